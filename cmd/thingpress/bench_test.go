package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// benchManifest returns a manifest of n good devices and its trust file,
// made once under os.TempDir() and reused by later runs.
func benchManifest(b *testing.B, format string, n int) (path, trustFile string) {
	b.Helper()
	if format == generate.FormatInfineon {
		testbundle.Require7z(b)
	}
	dir := filepath.Join(os.TempDir(), "thingpress-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	ext := map[string]string{generate.FormatInfineon: ".7z", generate.FormatXML: ".xml"}[format]
	path = filepath.Join(dir, fmt.Sprintf("cli-%s-%d-v1%s", format, n, ext))
	trustFile = path + ".ca.pem"
	if _, err := os.Stat(trustFile); err == nil {
		return path, trustFile
	}
	res, err := generate.Write(path, generate.Options{N: n, Format: format, Slots: []string{"E0E0"}, TempDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(trustFile, res.PKI.PEM(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, trustFile
}

// BenchmarkInspect validates every device of a 10,000-device bundle and
// writes JSON Lines: chain verification on both cores dominates.
//
//	go test -run '^$' -bench BenchmarkInspect -benchtime 3x ./cmd/thingpress/
func BenchmarkInspect(b *testing.B) {
	for _, format := range []string{generate.FormatInfineon, generate.FormatXML} {
		b.Run(format, func(b *testing.B) {
			const n = 10_000
			path, trustFile := benchManifest(b, format, n)
			b.ResetTimer()
			for b.Loop() {
				if code := run(b.Context(), []string{"inspect", "--trust", trustFile, "--output", "json", path}, io.Discard, io.Discard); code != exitOK {
					b.Fatalf("exit %d", code)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "devices/s")
		})
	}
}

// BenchmarkImportDefaultQuotas imports 300 devices with the real command,
// in a child process, through the proxy enforcing AWS's default quotas
// with 100 ms of latency per call, and reports the sustained rate against
// the 10 devices/s ceiling, the calls per device counted at the proxy, and
// the child's CPU time per 1,000 devices. The faults case adds 10%
// throttling, 2% 5xx and 1% dropped connections (half of them after the
// call took effect).
//
//	go test -run '^$' -bench BenchmarkImportDefaultQuotas -benchtime 1x ./cmd/thingpress/
func BenchmarkImportDefaultQuotas(b *testing.B) {
	cases := []struct {
		name string
		cfg  iotproxy.Config
	}{
		{name: "clean", cfg: iotproxy.Config{}},
		{name: "faults", cfg: iotproxy.Config{ThrottleRate: 0.10, FaultRate: 0.02, DropRate: 0.01, DropAfterForward: 0.5}},
	}
	const n = 300
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			path, trustFile := benchManifest(b, generate.FormatXML, n)
			for b.Loop() {
				b.StopTimer()
				cfg := c.cfg
				cfg.Quotas = iotproxy.DefaultQuotas()
				cfg.Latency = 100 * time.Millisecond
				cfg.Seed = time.Now().UnixNano()
				e := iottest.New(b, cfg)
				dir := b.TempDir()
				reportPath := filepath.Join(dir, "report.jsonl")
				args, _ := json.Marshal([]string{"import", "--endpoint-url", e.Proxy.URL(), "--policy", iottest.Policy,
					"--thing-type", iottest.ThingType, "--thing-group", iottest.Group, "--progress", "none",
					"--trust", trustFile, "--state", filepath.Join(dir, "s.state"), "--report", reportPath, path})
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), "THINGPRESS_TEST_ARGS="+string(args),
					"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_REGION=us-east-1",
					"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"))
				e.Proxy.ResetStats()
				b.StartTimer()
				start := time.Now()
				out, err := cmd.CombinedOutput()
				wall := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatalf("import: %v\n%s", err, out)
				}
				tot := e.Proxy.Total()
				st := e.Proxy.Stats()
				forwarded := tot.Forwarded - st["GetPolicy"].Forwarded - st["DescribeThingType"].Forwarded - st["DescribeThingGroup"].Forwarded
				cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				b.ReportMetric(n/wall.Seconds(), "devices/s")
				b.ReportMetric(n/wall.Seconds()/10*100, "%-of-ceiling")
				b.ReportMetric(float64(tot.Calls)/n, "calls/device")
				b.ReportMetric(float64(forwarded)/n, "forwarded/device")
				b.ReportMetric(float64(tot.Throttled), "throttled")
				b.ReportMetric(cpu.Seconds()/n*1000, "cpu-s/1000dev")
				lines, sum := readReportB(b, reportPath)
				if lines != n || sum.Imported != n {
					b.Fatalf("%d report lines, summary %+v", lines, sum)
				}
				b.StartTimer()
			}
		})
	}
}

func readReportB(b *testing.B, path string) (int, struct{ Imported, Failed int }) {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var sum struct{ Imported, Failed int }
	lines := 0
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var v struct {
			Summary *struct{ Imported, Failed int }
		}
		if json.Unmarshal(l, &v) == nil && v.Summary != nil {
			sum = *v.Summary
			continue
		}
		lines++
	}
	return lines, sum
}
