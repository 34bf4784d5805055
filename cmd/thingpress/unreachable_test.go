package main

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// TestImportEndpointGoesDown: the endpoint stops taking connections a few
// calls into an import of 20 devices. The run must stop within seconds,
// not retry every device to the end, with the devices done reported done,
// the rest remaining (none failed), the reason named and the status of an
// interrupted run; the same command against the endpoint back up finishes
// the rest, making no device twice.
func TestImportEndpointGoesDown(t *testing.T) {
	isolateAWS(t)
	const n, preflight = 20, 3
	// The endpoint goes down at the 12th device call: the two workers have
	// finished a device or two by then.
	e := iottest.New(t, iotproxy.Config{RefuseAfter: preflight + 12})
	path, trustFile, _ := writeTestManifest(t, generate.FormatInfineon, n, false)
	devs := devicesOf(t, path, trustFile)
	if len(devs) != n {
		t.Fatalf("%d good devices, want %d", len(devs), n)
	}
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "report.jsonl")
	args := importArgs(e, "--trust", trustFile, "--workers", "2", "--rate", "100",
		"--state", filepath.Join(dir, "state"), "--report", reportPath, path)
	addr := strings.TrimPrefix(e.Proxy.URL(), "http://")

	out := runUntilUnreachable(t, addr, args...)
	lines, sum := readReport(t, reportPath)
	done := withStatus(t, lines, importer.Imported)
	if done == 0 || done >= n {
		t.Errorf("%d devices done, want some but not all", done)
	}
	if sum.Failed != 0 || sum.Imported != done || !sum.Interrupted || sum.Remaining == nil || *sum.Remaining != n-done {
		t.Errorf("summary %+v (remaining %v), want %d imported, %d remaining, none failed, interrupted", sum, sum.Remaining, done, n-done)
	}
	if !strings.Contains(sum.Unreachable, addr) {
		t.Errorf("summary's unreachable %q does not name the endpoint %s", sum.Unreachable, addr)
	}
	for _, want := range []string{"remaining", "Run the same command again"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}

	endpointBack(t, e, addr)
	out, stderr, code := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, stderr)
	}
	_, sum = readReport(t, reportPath)
	if sum.Imported != n || sum.Resumed != done || sum.Exists != 0 || sum.Failed != 0 || sum.Interrupted {
		t.Errorf("rerun summary %+v, want %d imported, %d of them resumed", sum, n, done)
	}
	e.AssertComplete(t, devs)
}

// TestBindEndpointGoesDown is TestImportEndpointGoesDown for bind: the
// endpoint stops taking connections a few devices into a bind of 12
// registered certificates; the run stops within seconds with the rest
// remaining, none failed, and the same command against the endpoint back
// up binds the rest, each device once.
func TestBindEndpointGoesDown(t *testing.T) {
	isolateAWS(t)
	const n = 12
	e := iottest.New(t, iotproxy.Config{})
	infos, devs := registerOnly(t, e, n)
	// The preflight's 3 calls, then 15 of the 6 calls a device takes.
	e.Proxy.SetConfig(iotproxy.Config{RefuseAfter: 3 + 15})
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "bind.jsonl")
	args := bindArgs(e, "--thing-type", iottest.ThingType, "--workers", "2", "--rate", "100",
		"--state", filepath.Join(dir, "state"), "--report", reportPath, writeInfos(t, infos))
	addr := strings.TrimPrefix(e.Proxy.URL(), "http://")

	out := runUntilUnreachable(t, addr, args...)
	lines, sum := readReport(t, reportPath)
	done := withStatus(t, lines, importer.Bound)
	if done >= n || sum.Failed != 0 || sum.Bound != done || !sum.Interrupted || !strings.Contains(sum.Unreachable, addr) {
		t.Errorf("summary %+v after %d bound, want some but not all bound, none failed, interrupted, unreachable naming %s", sum, done, addr)
	}
	if !strings.Contains(out, "Run the same command again") {
		t.Errorf("output does not say to run the same command again:\n%s", out)
	}

	back := endpointBack(t, e, addr)
	out, stderr, code := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, stderr)
	}
	_, sum = readReport(t, reportPath)
	if sum.Bound != n || sum.Resumed != done || sum.Failed != 0 || sum.Interrupted {
		t.Errorf("rerun summary %+v, want %d bound, %d of them resumed", sum, n, done)
	}
	if c := back.Counts()["CreateThing"]; c > int64(n-done)+1 {
		t.Errorf("rerun sent CreateThing %d times for %d devices left", c, n-done)
	}
	assertBound(t, botoState(t, e.Moto.URL, iottest.Group), devs)
}

// runUntilUnreachable runs the CLI with args against an endpoint about to
// go down at addr and checks that it stopped within seconds with the
// status of an interrupted run, saying why; it returns the output.
func runUntilUnreachable(t *testing.T, addr string, args ...string) string {
	t.Helper()
	started := time.Now()
	out, stderr, code := runCLI(t, args...)
	took := time.Since(started)
	t.Logf("stopped after %v:\n%s", took, out)
	if took > 15*time.Second {
		t.Errorf("the run took %v to stop, want a few seconds", took)
	}
	if code != exitSomeDevices {
		t.Errorf("exit %d, want %d (interrupted)\n%s%s", code, exitSomeDevices, out, stderr)
	}
	for _, want := range []string{"unreachable", addr} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	return out
}

// endpointBack brings e's endpoint back at addr: a new proxy in front of
// the same moto.
func endpointBack(t *testing.T, e *iottest.Env, addr string) *iotproxy.Proxy {
	t.Helper()
	moto, err := url.Parse(e.Moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	back := iotproxy.New(moto, iotproxy.Config{})
	if _, err := back.StartAt(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	return back
}
