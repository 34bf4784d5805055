package validate_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/infineon"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

// realReel is the real Infineon reel of the shared fixtures, or the
// bundle THINGPRESS_BENCH_REEL names.
func realReel(b *testing.B) string {
	b.Helper()
	p := os.Getenv("THINGPRESS_BENCH_REEL")
	if p == "" {
		p = filepath.Join("..", "..", "..", "shared", "fixtures", "infineon", "manifest-infineon.7z")
	}
	if _, err := os.Stat(p); err != nil {
		b.Skipf("real reel not present (set THINGPRESS_BENCH_REEL): %v", err)
	}
	return p
}

// BenchmarkValidateRealReel validates the real reel's records of each slot
// against the embedded Infineon CAs (E0E0 and E0E1: CA 306, P-384; E0E2:
// CA 309, RSA), read once into memory: the cost of the checks alone, as
// devices per second and CPU time per device.
func BenchmarkValidateRealReel(b *testing.B) {
	path := realReel(b)
	store, err := trust.Infineon()
	if err != nil {
		b.Fatal(err)
	}
	for _, slot := range manifest.Slots {
		b.Run(slot, func(b *testing.B) {
			r, err := infineon.Open(b.Context(), path, manifest.Options{Slot: slot, TempDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			var recs []manifest.Record
			for {
				rec, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				recs = append(recs, rec)
			}
			r.Close()
			opts := validate.Options{File: path, Trust: store}
			n := 0
			start, cpu := time.Now(), cpuTime()
			for b.Loop() {
				err := validate.Run(b.Context(), &manifesttest.Slice{Recs: recs}, opts, func(d *validate.Checked) error {
					if !d.OK() {
						b.Fatalf("%s: %v", d.Entry, d.Err)
					}
					n++
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "devices/s")
			// CPU time per device varies less than wall time on a
			// machine shared with other work.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(n), "cpu-µs/device")
		})
	}
}
