package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/report"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// importArgs are the flags that aim an import at env's resources.
func importArgs(e *iottest.Env, extra ...string) []string {
	args := []string{"import", "--endpoint-url", e.Proxy.URL(), "--policy", iottest.Policy,
		"--thing-type", iottest.ThingType, "--thing-group", iottest.Group, "--progress", "none"}
	return append(args, extra...)
}

// readReport reads import's or bind's --report.
func readReport(t *testing.T, path string) ([]importer.Result, report.Summary) {
	t.Helper()
	return readReportOf[importer.Result, report.Summary](t, path)
}

// withStatus checks that each line of a report has the status want and
// returns how many have it.
func withStatus(t *testing.T, lines []importer.Result, want importer.Status) int {
	t.Helper()
	n := 0
	for _, l := range lines {
		if l.Status != want {
			t.Errorf("%s %s: status %s %q, want only %s devices reported", l.ChipID, l.ThingName, l.Status, l.Error, want)
			continue
		}
		n++
	}
	return n
}

// readReportOf reads a JSON Lines report: one line of L per device and a
// closing {"summary": S}, which must be there.
func readReportOf[L, S any](t *testing.T, path string) ([]L, S) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []L
	var sum struct{ Summary *S }
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"summary":`) {
			if err := json.Unmarshal(sc.Bytes(), &sum); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var l L
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if sum.Summary == nil {
		t.Fatalf("report %s has no summary line", path)
	}
	return lines, *sum.Summary
}

// devicesOf lists the good devices of a generated manifest by asking
// inspect, the way a user would.
func devicesOf(t *testing.T, path, trustFile string) []iottest.Device {
	t.Helper()
	out, _, _ := runCLI(t, "inspect", "--trust", trustFile, "--output", "json", path)
	var devs []iottest.Device
	for _, r := range readJSONL(t, out) {
		if r.Status == "ok" {
			devs = append(devs, iottest.Device{ThingName: r.ThingName, ChipID: r.ChipID, ReelID: r.ReelID})
		}
	}
	return devs
}

func TestImportEndToEnd(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, res := writeTestManifest(t, generate.FormatInfineon, 12, true)
	devs := devicesOf(t, path, trustFile)
	if len(devs) != 12 {
		t.Fatalf("%d good devices, want 12", len(devs))
	}
	reportPath := filepath.Join(t.TempDir(), "report.jsonl")
	args := importArgs(e, "--trust", trustFile, "--rate", "100", "--report", reportPath, path)

	t.Run("dry run changes nothing", func(t *testing.T) {
		out, stderr, code := runCLI(t, append(args, "--dry-run")...)
		if code != exitSomeDevices || !strings.Contains(out, "Dry run: nothing was changed") || !strings.Contains(out, "12 valid") ||
			!strings.Contains(out, "would    ... and 9 more devices\n") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		for op, n := range e.Proxy.Counts() {
			switch op {
			case "GetPolicy", "DescribeThingType", "DescribeThingGroup", iotproxy.Other:
			default:
				t.Errorf("dry run called %s %d times", op, n)
			}
		}
	})

	t.Run("import", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, args...)
		if code != exitSomeDevices {
			t.Fatalf("exit %d, want 1 (10 bad devices skipped)\n%s%s", code, out, stderr)
		}
		lines, sum := readReport(t, reportPath)
		if len(lines) != 12+len(res.Bad) || sum.Imported != 12 || sum.Skipped != len(res.Bad) || sum.Failed != 0 {
			t.Fatalf("%d lines, summary %+v", len(lines), sum)
		}
		for _, l := range lines {
			switch l.Status {
			case "imported":
				if l.CertificateARN == "" || !strings.HasSuffix(l.CertificateARN, "cert/"+l.CertificateID) {
					t.Errorf("%s: ARN %q for certificate %q", l.ChipID, l.CertificateARN, l.CertificateID)
				}
			case "skipped":
				if l.Error == "" {
					t.Errorf("%s skipped without a reason", l.ChipID)
				}
			default:
				t.Errorf("%s: status %s", l.ChipID, l.Status)
			}
		}
		if c := e.Proxy.Total().Calls - 3; c != 5*12 {
			t.Errorf("%d calls for 12 devices, want 5 each (plus 3 preflight): %v", c, e.Proxy.Counts())
		}
		e.AssertComplete(t, devs)
		assertWithAWSCLI(t, e, devs)
	})

	t.Run("rerun resumes without calls", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, args...)
		if code != exitSomeDevices {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		_, sum := readReport(t, reportPath)
		if sum.Imported != 12 || sum.Resumed != 12 {
			t.Errorf("summary %+v, want 12 imported from the state file", sum)
		}
		if c := e.Proxy.Total().Calls; c != 3 {
			t.Errorf("%d calls, want only the 3 of the preflight: %v", c, e.Proxy.Counts())
		}
	})

	t.Run("progress total comes from the archive header", func(t *testing.T) {
		out, stderr, code := runCLI(t, append(args, "--progress", "log")...)
		if code != exitSomeDevices {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		if want := fmt.Sprintf("%d/%d 100%%", 12+len(res.Bad), 12+len(res.Bad)); !strings.Contains(stderr, want) {
			t.Errorf("progress does not show %q:\n%s", want, stderr)
		}
	})

	t.Run("report to standard output", func(t *testing.T) {
		out, stderr, code := runCLI(t, append(args, "--report", "-")...)
		if code != exitSomeDevices {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 12+len(res.Bad)+1 || !strings.HasPrefix(lines[len(lines)-1], `{"summary":`) {
			t.Fatalf("standard output holds %d lines, want %d devices and the summary:\n%s", len(lines), 12+len(res.Bad), out)
		}
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("not a JSON line: %q", l)
			}
		}
		if !strings.Contains(stderr, "Devices ") || strings.Contains(out, "Devices ") {
			t.Errorf("the summary for a person belongs on standard error:\n%s", stderr)
		}
		if _, err := os.Stat("-"); err == nil {
			t.Error(`--report - wrote a file named "-"`)
		}
	})

	t.Run("rerun with a new state file finds everything there", func(t *testing.T) {
		out, stderr, code := runCLI(t, append(args, "--state", filepath.Join(t.TempDir(), "other.state"))...)
		if code != exitSomeDevices {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		_, sum := readReport(t, reportPath)
		if sum.Exists != 12 || sum.Imported != 0 || sum.Failed != 0 {
			t.Errorf("summary %+v, want 12 already there", sum)
		}
		e.AssertComplete(t, devs)
	})
}

// requireTool skips t when the command-line tool name is missing, except
// under CI, which must have it.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed under CI: %v", name, err)
		}
		t.Skipf("no %s: %v", name, err)
	}
}

// awsIoT runs "aws iot ARGS" against endpoint and decodes its JSON answer
// into v (if v is not nil).
func awsIoT(t *testing.T, endpoint string, v any, args ...string) {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json", "iot"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws iot %s: %v", strings.Join(args, " "), err)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("aws iot %s: %v", args[0], err)
	}
}

// awsCertificates is what "aws iot list-certificates" answers.
type awsCertificates struct {
	Certificates []struct {
		CertificateArn string
		CertificateID  string `json:"certificateId"`
		Status         string
	}
}

// assertWithAWSCLI checks with a third-party client (boto3, in one run), as
// a user would, that every device is a complete Thing: in the group, with
// one principal that carries the policy.
func assertWithAWSCLI(t *testing.T, e *iottest.Env, devs []iottest.Device) {
	t.Helper()
	s := botoState(t, e.Moto.URL, iottest.Group)
	if len(s.Things) != len(devs) {
		t.Errorf("boto3 list_things: %d things, want %d", len(s.Things), len(devs))
	}
	if len(s.Group) != len(devs) {
		t.Errorf("boto3 list_things_in_thing_group: %d things, want %d", len(s.Group), len(devs))
	}
	for _, d := range devs {
		th, ok := s.Things[d.ThingName]
		switch {
		case !ok:
			t.Errorf("%s: no such thing", d.ThingName)
		case len(th.Principals) != 1:
			t.Errorf("%s: %d principals", d.ThingName, len(th.Principals))
		case len(th.Policies) != 1 || th.Policies[0] != iottest.Policy:
			t.Errorf("%s: policies %v", d.ThingName, th.Policies)
		}
	}
}

func TestImportPreflightAndArguments(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 2, false)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "missing policy", args: []string{"import", "--endpoint-url", e.Proxy.URL(), "--policy", "nope", "--thing-group", "nope-group", "--trust", trustFile, path},
			wantErr: `missing in AWS IoT: policy "nope", thing group "nope-group"`},
		{name: "no policy flag", args: []string{"import", "--endpoint-url", e.Proxy.URL(), path}, wantErr: "--policy is required"},
		{name: "bad rate", args: []string{"import", "--policy", "p", "--rate", "0", path}, wantErr: "--rate"},
		{name: "bad quota", args: []string{"import", "--policy", "p", "--quota", "CreateThing", path}, wantErr: "--quota"},
		{name: "unknown quota operation", args: []string{"import", "--policy", "p", "--quota", "Foo=3", path}, wantErr: `--quota "Foo=3": unknown operation "Foo"`},
		{name: "negative workers", args: []string{"import", "--policy", "p", "--workers", "-3", path}, wantErr: "--workers -3: want a positive count"},
		{name: "unknown log level", args: []string{"--log-level", "loud", "import", "--policy", "p", path}, wantErr: `--log-level "loud": want debug, info, warn or error`},
		{name: "bad group name", args: []string{"import", "--policy", "p", "--thing-group", "a b", path}, wantErr: `"a b"`},
		{name: "unreadable manifest", args: []string{"import", "--endpoint-url", e.Proxy.URL(), "--policy", iottest.Policy, filepath.Join(t.TempDir(), "none.7z")}, wantErr: "none.7z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Proxy.ResetStats()
			_, stderr, code := runCLI(t, tt.args...)
			if code != exitFatal || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit 2 with %q", code, stderr, tt.wantErr)
			}
			if n := e.Proxy.Counts()["RegisterCertificateWithoutCA"]; n != 0 {
				t.Errorf("%d registrations after a failed preflight", n)
			}
		})
	}
}

// TestImportEndpointFromEnvironment aims the import at the local IoT with
// the SDK's endpoint variables alone, without --endpoint-url: a dry run
// only passes its preflight if those calls reach the proxy.
func TestImportEndpointFromEnvironment(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 2, false)
	for _, name := range []string{"AWS_ENDPOINT_URL_IOT", "AWS_ENDPOINT_URL"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, e.Proxy.URL())
			e.Proxy.ResetStats()
			out, stderr, code := runCLI(t, "import", "--policy", iottest.Policy, "--thing-type", iottest.ThingType,
				"--thing-group", iottest.Group, "--progress", "none", "--trust", trustFile, "--dry-run", path)
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
			}
			if n := e.Proxy.Counts()["GetPolicy"]; n != 1 {
				t.Errorf("GetPolicy reached the proxy %d times, want 1 (counts %v)", n, e.Proxy.Counts())
			}
		})
	}
}
