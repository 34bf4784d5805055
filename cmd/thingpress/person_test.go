package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/testkit/closedport"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// seen is what a person sees of one run: its exit status and outputs.
type seen struct {
	args           []string
	code           int
	stdout, stderr string
}

// runSeen runs thingpress in-process with ctx.
func runSeen(ctx context.Context, args ...string) seen {
	var out, errb strings.Builder
	code := run(ctx, args, &out, &errb)
	return seen{args: args, code: code, stdout: out.String(), stderr: errb.String()}
}

var (
	localPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	duration  = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m)\b`)
	rate      = regexp.MustCompile(`\d+\.\d+( devices)?/s\b`)
	eta       = regexp.MustCompile(`ETA \S+`)
	seconds   = regexp.MustCompile(`"seconds":[0-9.e-]+`)
	versionID = regexp.MustCompile(`(?m)^Version: \S+$`)
)

// normalize replaces what differs between runs: each of the paths of
// repl (old, new pairs), local ports, S3 version IDs, durations and rates.
func normalize(s string, repl ...string) string {
	s = strings.NewReplacer(repl...).Replace(s)
	s = localPort.ReplaceAllString(s, "127.0.0.1:PORT")
	s = eta.ReplaceAllString(s, "ETA T")
	s = versionID.ReplaceAllString(s, "Version: V")
	s = seconds.ReplaceAllString(s, `"seconds":T`)
	s = rate.ReplaceAllString(s, "R${1}/s")
	return duration.ReplaceAllString(s, "T")
}

// personGolden compares what a person sees with testdata/person/NAME.golden
// (go test -update rewrites it).
func personGolden(t *testing.T, name string, got seen, repl ...string) {
	t.Helper()
	text := normalize("$ thingpress "+strings.Join(got.args, " "), repl...) + "\nexit " + strconv.Itoa(got.code) + "\n--- stdout\n" + normalize(got.stdout, repl...) +
		"--- stderr\n" + normalize(got.stderr, repl...)
	checkGolden(t, filepath.Join("testdata", "person", name+".golden"), text)
}

// TestPersonArguments: flag values are checked before anything starts,
// and a manifest that cannot be read says why.
func TestPersonArguments(t *testing.T) {
	isolateAWS(t)
	empty := filepath.Join(t.TempDir(), "empty.7z")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{name: "import-unknown-quota-operation", args: []string{"import", "--policy", "p", "--quota", "Foo=3", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "import-negative-workers", args: []string{"import", "--policy", "p", "--workers", "-3", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "import-state-to-standard-output", args: []string{"import", "--policy", "p", "--state", "-", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "status-no-last", args: []string{"status", "--stack", "s", "--last", "0"}, code: exitFatal},
		{name: "import-bad-progress", args: []string{"import", "--policy", "p", "--progress", "loud", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "unknown-log-level", args: []string{"--log-level", "loud", "inspect", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "inspect-empty-file", args: []string{"inspect", empty}, code: exitFatal},
		{name: "inspect-7z-forced-microchip", args: []string{"inspect", "--vendor", "microchip", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "inspect-cert-type-lower-case", args: []string{"inspect", "--cert-type", "e0e1", "testdata/mini-reel.7z"}, code: exitOK},
		{name: "inspect-output-any-case", args: []string{"inspect", "--output", "JSON", "testdata/mini-reel.7z"}, code: exitOK},
		{name: "inspect-bad-output", args: []string{"inspect", "--output", "yaml", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "status-bad-output", args: []string{"status", "--stack", "s", "--output", "yaml"}, code: exitFatal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runSeen(t.Context(), tc.args...)
			if got.code != tc.code {
				t.Errorf("exit %d, want %d", got.code, tc.code)
			}
			personGolden(t, tc.name, got, filepath.Dir(empty), "TMP")
		})
	}
}

// TestPersonAWS: each error from AWS names what was looked for and where,
// and what to do.
func TestPersonAWS(t *testing.T) {
	isolateAWS(t)
	s := stacktest.New(t, "tp-person", stacktest.Options{})
	e := s.IoT
	tmp := t.TempDir()
	closed := "http://" + closedport.Addr(t)
	upload := filepath.Join(tmp, "reel.7z")
	data, err := os.ReadFile("testdata/mini-reel.7z")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(upload, data, 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(tmp, "picture.7z")
	if err := os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(tmp, "expired.7z")
	if data, err := os.ReadFile("testdata/corpus/expired.7z"); err != nil || os.WriteFile(bad, data, 0o644) != nil {
		t.Fatal(err)
	}
	stackArgs := []string{"--endpoint-url", s.Moto.URL, "--stack", "tp-person"}
	// What AWS answers to keys it does not know.
	badKeys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Errortype", "UnrecognizedClientException")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"The security token included in the request is invalid."}`)
	}))
	defer badKeys.Close()
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		unset  []string
		code   int
		within time.Duration
	}{
		{name: "import-policy-missing", args: []string{"import", "--endpoint-url", e.Proxy.URL(), "--policy", "nope", "--thing-group", "nope-group", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "verify-policy-missing", args: []string{"verify", "--endpoint-url", e.Proxy.URL(), "--policy", "nope", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "remove-policy-missing", args: []string{"remove", "--endpoint-url", e.Proxy.URL(), "--policy", "nope", "--dry-run", "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "import-no-credentials", args: []string{"import", "--policy", iottest.Policy, "testdata/mini-reel.7z"},
			unset: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, env: map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}, code: exitFatal},
		{name: "import-bad-credentials", args: []string{"import", "--endpoint-url", badKeys.URL, "--policy", iottest.Policy, "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "import-unknown-profile", args: []string{"import", "--profile", "nosuch", "--policy", iottest.Policy, "testdata/mini-reel.7z"}, code: exitFatal},
		{name: "import-unreachable-endpoint", args: []string{"import", "--endpoint-url", closed, "--policy", iottest.Policy, "testdata/mini-reel.7z"},
			code: exitFatal, within: time.Second},
		{name: "upload-no-bucket", args: []string{"upload", "--endpoint-url", s.Moto.URL, "--stack", "no-such-stack", upload}, code: exitFatal},
		{name: "upload-unreachable-endpoint", args: []string{"upload", "--endpoint-url", closed, "--stack", "tp-person", upload},
			code: exitFatal, within: time.Second},
		{name: "upload-png-named-7z", args: append([]string{"upload", png}, stackArgs...), code: exitFatal},
		{name: "upload-no-valid-device", args: append([]string{"upload", bad}, stackArgs...), code: exitFatal},
		{name: "upload-no-valid-device-forced", args: append([]string{"upload", "--force", "--key", "forced.7z", bad}, stackArgs...), code: exitOK},
		{name: "upload-microchip-as-infineon", args: append([]string{"upload", "--vendor", "infineon", mixedMicrochip}, stackArgs...), code: exitFatal},
		{name: "upload-no-file", args: append([]string{"upload", "--force", filepath.Join(tmp, "none.7z")}, stackArgs...), code: exitFatal},
		{name: "upload", args: append([]string{"upload", upload}, stackArgs...), code: exitOK},
		{name: "status-no-stack", args: []string{"status", "--endpoint-url", s.Moto.URL, "--stack", "no-such-stack"}, code: exitFatal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			for _, k := range tc.unset {
				unsetenv(t, k)
			}
			start := time.Now()
			got := runSeen(t.Context(), tc.args...)
			if took := time.Since(start); tc.within > 0 && took > tc.within {
				t.Errorf("took %v, want at most %v", took, tc.within)
			}
			if got.code != tc.code {
				t.Errorf("exit %d, want %d", got.code, tc.code)
			}
			personGolden(t, tc.name, got, tmp, "TMP")
		})
	}
}

// TestPersonSummaries: an interrupted import, the run that resumes it and
// one with nothing left say how many devices the manifest holds, how many
// are done, before this run or by it, and how many remain; the rate
// counts only this run's work.
func TestPersonSummaries(t *testing.T) {
	isolateAWS(t)
	var registered atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e := iottest.New(t, iotproxy.Config{Observe: func(op string, _ *http.Request, _ []byte) {
		// Stop the first run while the second device registers.
		if op == "RegisterCertificateWithoutCA" && registered.Add(1) == 2 {
			cancel()
		}
	}})
	state := filepath.Join(t.TempDir(), "reel.state")
	args := importArgs(e, "--workers", "1", "--state", state, "testdata/mini-reel.7z")
	repl := []string{filepath.Dir(state), "TMP"}

	got := runSeen(ctx, args...)
	if got.code != exitSomeDevices {
		t.Errorf("interrupted: exit %d, want %d", got.code, exitSomeDevices)
	}
	personGolden(t, "import-interrupted", got, repl...)

	got = runSeen(t.Context(), args...)
	if got.code != exitOK {
		t.Errorf("resumed: exit %d, want %d", got.code, exitOK)
	}
	personGolden(t, "import-resumed", got, repl...)

	got = runSeen(t.Context(), args...)
	if got.code != exitOK {
		t.Errorf("nothing left: exit %d, want %d", got.code, exitOK)
	}
	personGolden(t, "import-nothing-left", got, repl...)

	got = runSeen(t.Context(), append(args[:len(args)-1:len(args)-1], "--report", "-", "testdata/mini-reel.7z")...)
	if got.code != exitOK {
		t.Errorf("report to standard output: exit %d, want %d", got.code, exitOK)
	}
	personGolden(t, "import-report-stdout", got, repl...)
}

// TestPersonInspect: inspect shows progress, and its table lists the
// first invalid devices and counts the rest, which --output json lists.
func TestPersonInspect(t *testing.T) {
	head, err := os.ReadFile("testdata/corpus/bad-chip-id.xml")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(head), "  <Device ")
	if i < 0 {
		t.Fatal("no Device in testdata/corpus/bad-chip-id.xml")
	}
	var b strings.Builder
	b.Write(head[:i])
	const n = 25
	for d := range n {
		fmt.Fprintf(&b, "  <Device chipId=\"F66436A70000000001%02d\">\n    <Certificate slot=\"E0E0\">-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----</Certificate>\n  </Device>\n", d)
	}
	b.WriteString("</CertificateManifest>\n")
	tmp := t.TempDir()
	many := filepath.Join(tmp, "many-invalid.xml")
	if err := os.WriteFile(many, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{name: "inspect-invalid-capped", args: []string{"inspect", "--trust", "testdata/corpus/ca.pem", many}, code: exitSomeDevices},
		{name: "inspect-progress-log", args: []string{"inspect", "--progress", "log", "testdata/mini-reel.7z"}, code: exitOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runSeen(t.Context(), tc.args...)
			if got.code != tc.code {
				t.Errorf("exit %d, want %d", got.code, tc.code)
			}
			personGolden(t, tc.name, got, tmp, "TMP")
		})
	}
	t.Run("json lists every device", func(t *testing.T) {
		out, _, _ := runCLI(t, "inspect", "--trust", "testdata/corpus/ca.pem", "--output", "json", many)
		if got := len(readJSONL(t, out)); got != n {
			t.Errorf("%d devices in the JSON output, want %d", got, n)
		}
	})
}
