package espressif

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// TestHostileInput checks that 200 MB made to exhaust encoding/csv ends
// early in ErrTooLarge, having read and allocated little.
func TestHostileInput(t *testing.T) {
	const size = 200 << 20
	tests := []struct {
		name     string
		in       *manifesttest.Counting
		maxAlloc uint64
	}{
		{name: "one long line", in: manifesttest.Hostile("MAC,cn,cert\n", 'A', size, "\n"), maxAlloc: 8 << 20},
		{name: "one long quoted field", in: manifesttest.Hostile("MAC,cn,cert\nAABBCCDDEEFF,x,\"", '\n', size, "\"\n"), maxAlloc: 8 << 20},
		{name: "blank lines", in: manifesttest.Hostile("MAC,cn,cert\n", '\n', size, ""), maxAlloc: 8 << 20},
		// encoding/csv keeps some 150 bytes per empty field: bounded by
		// the record cap, not by the stream.
		{name: "a long header", in: manifesttest.Hostile("MAC,cn,cert", ',', size, "\n"), maxAlloc: 32 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := readAll(t, tt.in, manifest.Options{})
			runtime.ReadMemStats(&after)
			var me *manifest.Error
			if !errors.As(err, &me) || !errors.Is(err, manifest.ErrTooLarge) || !strings.Contains(err.Error(), "a CSV record longer than 131072 bytes") {
				t.Fatalf("error %v", err)
			}
			if limit := int64(rowFactor*manifest.DefaultLimits.MaxEntryBytes + 2*readAhead + 16); tt.in.N > limit {
				t.Errorf("read %d bytes, want at most %d", tt.in.N, limit)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > tt.maxAlloc {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}
