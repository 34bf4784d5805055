package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// TestImportAfterRegisterOnlyInactive: a plain import over the state file
// of import --register-only --inactive makes every device complete and
// ends with its certificate ACTIVE (boto3 checks), in the 4 calls left
// and one UpdateCertificate a device.
func TestImportAfterRegisterOnlyInactive(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{StrictCreateThing: true, StrictAttributes: true})
	const n = 6
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, n, false)
	statePath := filepath.Join(t.TempDir(), "state.db")
	common := []string{"import", "--endpoint-url", e.Proxy.URL(), "--progress", "none", "--trust", trustFile, "--rate", "100", "--state", statePath}
	out, stderr, code := runCLI(t, append(common, "--register-only", "--inactive", path)...)
	if code != exitOK {
		t.Fatalf("import --register-only --inactive: exit %d\n%s%s", code, out, stderr)
	}
	for arn, status := range botoState(t, e.Moto.URL, iottest.Group).Certificates {
		if status != "INACTIVE" {
			t.Fatalf("%s is %s after --register-only --inactive", arn, status)
		}
	}

	e.Proxy.ResetStats()
	reportPath := filepath.Join(t.TempDir(), "import.jsonl")
	args := append(common, "--policy", iottest.Policy, "--thing-type", iottest.ThingType, "--thing-group", iottest.Group, "--report", reportPath, path)
	out, stderr, code = runCLI(t, append(args[:len(args)-1:len(args)-1], "--dry-run", path)...)
	if code != exitOK || !strings.Contains(out, "steps thing, principal, policy:"+iottest.Policy+", group:"+iottest.Group+", activate") {
		t.Fatalf("import --dry-run: exit %d, want the steps left and activate last\n%s%s", code, out, stderr)
	}
	if c := e.Proxy.Counts()["UpdateCertificate"]; c != 0 {
		t.Fatalf("dry run called UpdateCertificate %d times", c)
	}
	e.Proxy.ResetStats()
	out, stderr, code = runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	lines, sum := readReport(t, reportPath)
	if sum.Imported != n || len(lines) != n {
		t.Errorf("report: %d lines, summary %+v, want %d imported", len(lines), sum, n)
	}
	c := e.Proxy.Counts()
	if c["RegisterCertificateWithoutCA"] != 0 || c["UpdateCertificate"] != n {
		t.Errorf("calls %v, want no registration and one UpdateCertificate a device", c)
	}
	// 5 calls a device, plus the preflight's GetPolicy,
	// DescribeThingType and DescribeThingGroup.
	if got := e.Proxy.Total().Calls; got != 5*n+3 {
		t.Errorf("%d calls for %d devices, want 5 each plus 3: %v", got, n, c)
	}
	s := botoState(t, e.Moto.URL, iottest.Group)
	if len(s.Things) != n || len(s.Group) != n || len(s.Certificates) != n {
		t.Errorf("boto3: %d things, %d in the group, %d certificates; want %d each", len(s.Things), len(s.Group), len(s.Certificates), n)
	}
	for name, th := range s.Things {
		switch {
		case th.Type != iottest.ThingType || len(th.Principals) != 1 || len(th.Policies) != 1:
			t.Errorf("%s: %+v", name, th)
		case s.Certificates[th.Principals[0]] != "ACTIVE":
			t.Errorf("%s: certificate %s, want ACTIVE", name, s.Certificates[th.Principals[0]])
		}
	}

	e.Proxy.ResetStats()
	if out, stderr, code = runCLI(t, args...); code != exitOK {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, stderr)
	}
	if got := e.Proxy.Total().Calls; got != 3 {
		t.Errorf("rerun: %d calls, want the 3 of the preflight: %v", got, e.Proxy.Counts())
	}
}
