package xmlmanifest

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

const benchDevices = 100_000

// benchManifest returns the path of a manifest of benchDevices devices,
// each with a distinct leaf from internal/generate as PEM in slot E0E0 and as base64-der
// in slot E0E1. It is made once in os.TempDir and reused by later runs:
// issuing 100,000 certificates takes a while.
func benchManifest(b *testing.B) string {
	b.Helper()
	return manifesttest.Cached(b, fmt.Sprintf("thingpress-xmlmanifest-bench-%d-v1.xml", benchDevices), func(w *bufio.Writer) {
		ca, err := generate.NewRoot("xmlmanifest bench root")
		if err != nil {
			b.Fatal(err)
		}
		// Issue in parallel, write in order.
		leaves := make([]*generate.Leaf, benchDevices)
		errs := make([]error, runtime.GOMAXPROCS(0))
		var wg sync.WaitGroup
		for g := range errs {
			wg.Go(func() {
				for i := g; i < benchDevices; i += len(errs) {
					l, err := ca.Issue(generate.LeafOptions{Seed: fmt.Sprint("bench ", i)})
					if err != nil {
						errs[g] = err
						return
					}
					leaves[i] = l
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CertificateManifest vendor=\"Infineon\" product=\"OPTIGA Trust M Express\" reelId=\"78211223032C7EFA\" batchId=\"b41425b9-b42b-47fd-95c2-f981b4c61561\">\n")
		for i, l := range leaves {
			fmt.Fprintf(w, "  <Device chipId=\"%020X\">\n    <Certificate slot=\"E0E0\">%s</Certificate>\n    <Certificate slot=\"E0E1\" encoding=\"base64-der\">%s</Certificate>\n  </Device>\n",
				i, generate.PEM(l.Cert), base64.StdEncoding.EncodeToString(l.Cert.Raw))
		}
		fmt.Fprintf(w, "</CertificateManifest>\n")
	})
}

// BenchmarkRead100k reads a 100,000-device manifest per op and reports
// devices/s and the allocations per device, which must not grow with
// the manifest (compare with TestAllocationsPerDevice).
func BenchmarkRead100k(b *testing.B) {
	path := benchManifest(b)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		slot string
	}{
		{name: "pem", slot: "E0E0"},
		{name: "base64-der", slot: "E0E1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(st.Size())
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				r, err := Open(path, manifest.Options{Slot: bc.slot})
				if err != nil {
					b.Fatal(err)
				}
				n := manifesttest.Count(b, r.Next, func(rec manifest.Record) {
					if rec.Problem != nil || len(rec.Data) == 0 {
						b.Fatalf("%s: Problem %v, %d bytes of data", rec.Entry, rec.Problem, len(rec.Data))
					}
				})
				r.Close()
				if n != benchDevices {
					b.Fatalf("read %d devices, want %d", n, benchDevices)
				}
			}
			runtime.ReadMemStats(&after)
			devices := float64(b.N) * benchDevices
			b.ReportMetric(devices/b.Elapsed().Seconds(), "devices/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/devices, "allocs/device")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/devices, "B/device")
		})
	}
}
