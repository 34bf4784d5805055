package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/bind"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// deviceInfo is one entry of a device-infos file, as a line writes it.
type deviceInfo struct {
	CertFingerprint string            `json:"certFingerprint"`
	DeviceID        string            `json:"deviceId"`
	DeviceType      string            `json:"deviceType,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
}

// registerOnly generates a manifest of n good devices, registers their
// certificates INACTIVE with import --register-only, checks that nothing
// else was made, and returns a device-infos entry per device (deviceId
// "dev-<chip>") and the devices as they must end up.
func registerOnly(t *testing.T, e *iottest.Env, n int) ([]deviceInfo, []iottest.Device) {
	t.Helper()
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, n, false)
	reportPath := filepath.Join(t.TempDir(), "register.jsonl")
	out, stderr, code := runCLI(t, "import", "--endpoint-url", e.Proxy.URL(), "--register-only", "--inactive", "--progress", "none",
		"--trust", trustFile, "--rate", "100", "--report", reportPath, path)
	if code != exitOK {
		t.Fatalf("import --register-only: exit %d\n%s%s", code, out, stderr)
	}
	lines, sum := readReport(t, reportPath)
	if sum.Registered != n || len(lines) != n {
		t.Fatalf("register-only report: %d lines, summary %+v", len(lines), sum)
	}
	withStatus(t, lines, "registered")
	if c := e.Proxy.Counts(); c["RegisterCertificateWithoutCA"] != int64(n) || c["CreateThing"] != 0 || c["AttachThingPrincipal"] != 0 || c["AttachPolicy"] != 0 {
		t.Errorf("register-only calls: %v", c)
	}
	var infos []deviceInfo
	var devs []iottest.Device
	out, _, _ = runCLI(t, "inspect", "--trust", trustFile, "--output", "json", path)
	for _, r := range readJSONL(t, out) {
		id := "dev-" + r.ChipID
		infos = append(infos, deviceInfo{CertFingerprint: r.CertificateID, DeviceID: id, DeviceType: iottest.ThingType,
			Attributes: map[string]string{"chip_id": r.ChipID, "reel_id": r.ReelID, "line": "L1"}})
		devs = append(devs, iottest.Device{ThingName: id, ChipID: r.ChipID, ReelID: r.ReelID})
	}
	return infos, devs
}

func writeInfos(t *testing.T, infos []deviceInfo) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"batchId": "B-2026-12", "devices": infos})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "devices.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func bindArgs(e *iottest.Env, extra ...string) []string {
	args := []string{"bind", "--endpoint-url", e.Proxy.URL(), "--policy", iottest.Policy, "--thing-group", iottest.Group, "--progress", "none"}
	return append(args, extra...)
}

// TestBindAfterRegisterOnly is two-phase provisioning end to end: import
// --register-only --inactive, then bind with a device-infos file; boto3
// then finds every device complete under its deviceId, its certificate
// ACTIVE.
func TestBindAfterRegisterOnly(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{StrictCreateThing: true, StrictAttributes: true})
	const n = 8
	infos, devs := registerOnly(t, e, n)
	s := botoState(t, e.Moto.URL, iottest.Group)
	if len(s.Things) != 0 || len(s.Certificates) != n {
		t.Fatalf("after register-only boto3 sees %d things, %d certificates", len(s.Things), len(s.Certificates))
	}
	for arn, status := range s.Certificates {
		if status != "INACTIVE" {
			t.Errorf("%s is %s, want INACTIVE", arn, status)
		}
	}

	infosPath := writeInfos(t, infos)
	reportPath := filepath.Join(t.TempDir(), "bind.jsonl")
	args := bindArgs(e, "--report", reportPath, "--rate", "100", infosPath)
	t.Run("dry run changes nothing", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, append(args, "--dry-run")...)
		if code != exitOK || !strings.Contains(out, "Dry run: nothing was changed") || !strings.Contains(out, fmt.Sprintf("%d valid", n)) ||
			!strings.Contains(out, "steps register, thing, principal, policy:"+iottest.Policy+", group:"+iottest.Group+", activate") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		for op, c := range e.Proxy.Counts() {
			if op != "GetPolicy" && op != "DescribeThingGroup" {
				t.Errorf("dry run called %s %d times", op, c)
			}
		}
	})
	e.Proxy.ResetStats()
	out, stderr, code := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("bind: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, fmt.Sprintf("Done       %d: %d bound", n, n)) {
		t.Errorf("summary does not say %d bound:\n%s", n, out)
	}
	lines, sum := readReport(t, reportPath)
	if sum.Bound != n || len(lines) != n {
		t.Errorf("bind report: %d lines, summary %+v", len(lines), sum)
	}
	for _, l := range lines {
		if l.Status != "bound" || !strings.HasSuffix(l.CertificateARN, "cert/"+l.CertificateID) {
			t.Errorf("%s: %+v", l.ThingName, l)
		}
	}
	// 6 calls a device, plus GetPolicy, DescribeThingGroup and one
	// DescribeThingType.
	if c := e.Proxy.Total().Calls; c != 6*n+3 {
		t.Errorf("%d calls for %d devices, want 6 each plus 3: %v", c, n, e.Proxy.Counts())
	}
	s = botoState(t, e.Moto.URL, iottest.Group)
	assertBound(t, s, devs)

	t.Run("rerun makes no calls", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		_, sum := readReport(t, reportPath)
		if sum.Bound != n || sum.Resumed != n {
			t.Errorf("summary %+v, want %d bound from the state file", sum, n)
		}
		if c := e.Proxy.Total().Calls; c != 2 {
			t.Errorf("%d calls, want the 2 of the preflight: %v", c, e.Proxy.Counts())
		}
	})

	t.Run("per-device reasons", func(t *testing.T) {
		bad := []deviceInfo{
			{CertFingerprint: strings.Repeat("ab", 32), DeviceID: "unknown-cert"},
			{CertFingerprint: infos[0].CertFingerprint, DeviceID: "bad/name"},
			{CertFingerprint: infos[1].CertFingerprint, DeviceID: "bad-attr", DeviceType: iottest.ThingType, Attributes: map[string]string{"line": "L 1"}},
			{CertFingerprint: "not-hex", DeviceID: "bad-fingerprint"},
		}
		reportPath := filepath.Join(t.TempDir(), "bad.jsonl")
		_, stderr, code := runCLI(t, bindArgs(e, "--report", reportPath, writeInfos(t, bad))...)
		if code != exitSomeDevices {
			t.Fatalf("exit %d, want 1\n%s", code, stderr)
		}
		lines, _ := readReport(t, reportPath)
		want := map[string]string{
			"unknown-cert":    "failed: no certificate with this fingerprint is registered",
			"bad/name":        "skipped: deviceId is not a valid AWS IoT thing name",
			"bad-attr":        `skipped: value is not a valid AWS IoT thing attribute: "line" "L 1"`,
			"bad-fingerprint": "skipped: certFingerprint is not a hex SHA-256",
		}
		for _, l := range lines {
			if w := want[l.ThingName]; !strings.HasPrefix(string(l.Status)+": "+l.Error, w) || w == "" {
				t.Errorf("%s: %s: %s, want %s", l.ThingName, l.Status, l.Error, w)
			}
		}
		if len(lines) != len(bad) {
			t.Errorf("%d lines, want %d", len(lines), len(bad))
		}
	})

	t.Run("arguments", func(t *testing.T) {
		runUsageCases(t, []usageCase{
			{name: "no policy", args: []string{"bind", infosPath}, want: "--policy is required"},
			{name: "no file", args: []string{"bind", "--policy", "p"}, want: "expected exactly one DEVICES.json argument"},
			{name: "bad quota", args: []string{"bind", "--policy", "p", "--quota", "Nope=1", infosPath}, want: `unknown operation "Nope"`},
			{name: "missing file", args: bindArgs(e, filepath.Join(t.TempDir(), "none.json")), want: "none.json"},
			{name: "not a device-infos file", args: bindArgs(e, writeFile(t, "x.json", `{"things":[]}`)), want: `x.json: not a device-infos file: unknown field "things"`},
		})
	})
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertBound checks boto3's view: each device is a Thing of the thing
// type with its attributes, one ACTIVE certificate attached, the policy
// attached to it, in the group; nothing else.
func assertBound(t *testing.T, s awsState, devs []iottest.Device) {
	t.Helper()
	if len(s.Things) != len(devs) || len(s.Group) != len(devs) || len(s.Certificates) != len(devs) {
		t.Errorf("boto3: %d things, %d in the group, %d certificates; want %d each", len(s.Things), len(s.Group), len(s.Certificates), len(devs))
	}
	for _, d := range devs {
		th, ok := s.Things[d.ThingName]
		switch {
		case !ok:
			t.Errorf("%s: no such thing", d.ThingName)
		case th.Type != iottest.ThingType || th.Attributes["chip_id"] != d.ChipID || th.Attributes["reel_id"] != d.ReelID || th.Attributes["line"] != "L1":
			t.Errorf("%s: type %q attributes %v", d.ThingName, th.Type, th.Attributes)
		case len(th.Principals) != 1:
			t.Errorf("%s: %d principals", d.ThingName, len(th.Principals))
		case s.Certificates[th.Principals[0]] != "ACTIVE":
			t.Errorf("%s: certificate %s", d.ThingName, s.Certificates[th.Principals[0]])
		case len(th.Policies) != 1 || th.Policies[0] != iottest.Policy:
			t.Errorf("%s: policies %v", d.ThingName, th.Policies)
		}
	}
}

// TestBindKillResume kills bind with SIGKILL after a random number of IoT
// calls (at most 30 of the more than 200 bind needs, so every kill lands
// mid-run) and runs the same command again each time: the end state must
// be the one without kills, and no step the state file recorded as done
// is sent again.
func TestBindKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test runs for several seconds")
	}
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{Latency: 30 * time.Millisecond, Jitter: 40 * time.Millisecond, StrictCreateThing: true})
	infos, devs := registerOnly(t, e, 40)
	infosPath := writeInfos(t, infos)
	statePath := filepath.Join(t.TempDir(), "bind.state")
	reportPath := filepath.Join(t.TempDir(), "bind.jsonl")
	args := bindArgs(e, "--thing-type", iottest.ThingType, "--rate", "50", "--state", statePath, "--report", reportPath, infosPath)
	idOf := map[string]string{}
	for _, in := range infos {
		idOf[in.CertFingerprint] = in.DeviceID
	}
	doneKeys := stateDoneKeys(t, statePath, idOf, func(fp, step string) (string, bool) {
		switch step {
		case state.StepRegister:
			// Found by DescribeCertificate: a read, which a rerun may
			// repeat only if the answer was lost; not counted.
			return "", true
		case bind.StepActivate:
			return "UpdateCertificate /certificates/" + fp, true
		}
		return "", false
	})
	kills := killRounds(t, e, args, 2, 5, doneKeys)
	if kills == 0 {
		t.Fatalf("no run was killed: bind finished too fast to test")
	}
	t.Logf("%d kills", kills)
	if got, want := len(doneKeys()), 5*len(devs); got != want {
		t.Errorf("state records %d steps, want %d", got, want)
	}
	lines, sum := readReport(t, reportPath)
	if sum.Bound != len(devs) || len(lines) != len(devs) {
		t.Errorf("final report: %d lines, summary %+v, want all %d bound", len(lines), sum, len(devs))
	}
	assertBound(t, botoState(t, e.Moto.URL, iottest.Group), devs)
}
