package microchip

import (
	"runtime"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// TestHostileInput checks that 200 MB made to exhaust the decoder ends
// early in ErrTooLarge, having read and allocated little.
func TestHostileInput(t *testing.T) {
	const (
		size    = 200 << 20
		tooLong = "an array element longer than 262144 bytes"
	)
	tests := []struct {
		name  string
		in    *manifesttest.Counting
		want  error
		entry string
		msg   string
	}{
		{name: "one long string", in: manifesttest.Hostile(`[{"protected":"`, 'A', size, `"}]`), want: manifest.ErrTooLarge, entry: "entry[1]", msg: tooLong},
		{name: "deep nesting", in: manifesttest.Hostile(`[`, '[', size, ``), want: manifest.ErrMalformed, entry: "entry[1]", msg: "exceeded max depth"},
		{name: "deep objects", in: manifesttest.Hostile(`[`, '{', size, ``), want: manifest.ErrMalformed, entry: "entry[1]", msg: "invalid character '{' looking for beginning of object key string"},
		{name: "white space", in: manifesttest.Hostile(`[`, ' ', size, `]`), want: manifest.ErrTooLarge, msg: tooLong},
		{name: "a long number", in: manifesttest.Hostile(`[`, '1', size, `]`), want: manifest.ErrTooLarge, entry: "entry[1]", msg: tooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := readAll(t, tt.in, manifest.Options{}, DefaultSigners())
			runtime.ReadMemStats(&after)
			manifesttest.CheckFatal(t, err, "test.json", tt.want, tt.entry, tt.msg)
			if limit := int64(elemFactor*manifest.DefaultLimits.MaxEntryBytes + 2*maxRead + 16); tt.in.N > limit {
				t.Errorf("read %d bytes, want at most %d", tt.in.N, limit)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}
