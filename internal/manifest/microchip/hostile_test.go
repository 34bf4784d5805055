package microchip

import (
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
)

// repeat yields its byte forever.
type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// counting counts the bytes read through it.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// hostile returns prefix, then n bytes of fill, then suffix.
func hostile(prefix string, fill byte, n int64, suffix string) *counting {
	return &counting{r: io.MultiReader(strings.NewReader(prefix), io.LimitReader(repeat(fill), n), strings.NewReader(suffix))}
}

// TestHostileInput checks that 200 MB made to exhaust the decoder ends
// early in ErrTooLarge, having read and allocated little.
func TestHostileInput(t *testing.T) {
	const (
		size    = 200 << 20
		tooLong = "an array element longer than 262144 bytes"
	)
	tests := []struct {
		name  string
		in    *counting
		want  error
		entry string
		msg   string
	}{
		{name: "one long string", in: hostile(`[{"protected":"`, 'A', size, `"}]`), want: manifest.ErrTooLarge, entry: "entry[1]", msg: tooLong},
		{name: "deep nesting", in: hostile(`[`, '[', size, ``), want: manifest.ErrMalformed, entry: "entry[1]", msg: "exceeded max depth"},
		{name: "deep objects", in: hostile(`[`, '{', size, ``), want: manifest.ErrMalformed, entry: "entry[1]", msg: "invalid character '{' looking for beginning of object key string"},
		{name: "white space", in: hostile(`[`, ' ', size, `]`), want: manifest.ErrTooLarge, msg: tooLong},
		{name: "a long number", in: hostile(`[`, '1', size, `]`), want: manifest.ErrTooLarge, entry: "entry[1]", msg: tooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := readAll(t, tt.in, manifest.Options{}, DefaultSigners())
			runtime.ReadMemStats(&after)
			checkFatal(t, err, tt.want, tt.entry, tt.msg)
			if max := int64(elemFactor*manifest.DefaultLimits.MaxEntryBytes + 2*maxRead + 16); tt.in.n > max {
				t.Errorf("read %d bytes, want at most %d", tt.in.n, max)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}
