package generated

import (
	"errors"
	"runtime"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// TestHostileInput checks that 200 MB lines are skipped as Problems
// without memory growing with them.
func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 220 MB")
	}
	good := b64(lfPEM(newTestChain(t).leaf))
	tests := []struct {
		name string
		fill byte
		size int64
		want int // records
	}{
		{name: "a line of 200 MB of base64", fill: 'A', size: 200 << 20, want: 3},
		{name: "20 MB of blank lines", fill: '\n', size: 20 << 20, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := manifesttest.Hostile(good+"\n", tt.fill, tt.size, "\n"+good+"\n")
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			devs, err := readAll(t, in, manifest.Options{})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != tt.want || devs[0].Problem != nil || devs[len(devs)-1].Problem != nil {
				t.Fatalf("%d devices, want %d with the first and last good", len(devs), tt.want)
			}
			if tt.want == 3 && !errors.Is(devs[1].Problem, manifest.ErrTooLarge) {
				t.Errorf("long line: Problem %v", devs[1].Problem)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}
