package infineon_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/infineon"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// benchBundle returns a bundle of n devices (slot E0E0 only), made once and
// kept under os.TempDir() for later runs.
func benchBundle(b *testing.B, n int) string {
	b.Helper()
	testbundle.Require7z(b)
	dir := filepath.Join(os.TempDir(), "thingpress-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("infineon-%d-E0E0-v1.7z", n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	if _, err := generate.Write(tmp, generate.Options{
		N: n, Slots: []string{"E0E0"}, ReelID: "BE7C4000000A0000", BatchID: "00000000-0000-4000-8000-000000000000",
		TempDir: dir,
	}); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkRead100k reads every record of a 100,000-device bundle. Its
// sub-benchmark of 10,000 devices shows the cost per record does not grow
// with the bundle (reading is O(n)); peak-heap-MB shows the memory the 7z
// library's member list takes.
//
//	go test -run '^$' -bench BenchmarkRead100k -benchtime 3x ./internal/manifest/infineon/
func BenchmarkRead100k(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			path := benchBundle(b, n)
			opts := manifest.Options{TempDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)}
			var peak uint64
			var ms runtime.MemStats
			b.ResetTimer()
			for b.Loop() {
				r, err := infineon.Open(b.Context(), path, opts)
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					_, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					got++
					if got%10_000 == 0 {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
				}
				r.Close()
				if got != n {
					b.Fatalf("%d records, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/record")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
