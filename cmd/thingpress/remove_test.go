package main

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/remove"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// foreignThing makes a Thing with a certificate of its own, which no
// manifest knows, and returns the certificate's ARN.
func foreignThing(t *testing.T, e *iottest.Env, name string) string {
	t.Helper()
	ctx := t.Context()
	if _, err := e.Direct.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return foreignCertOn(t, e, name)
}

// foreignCertOn attaches a new certificate to the Thing name and returns
// its ARN.
func foreignCertOn(t *testing.T, e *iottest.Env, name string) string {
	t.Helper()
	ctx := t.Context()
	c, err := e.Direct.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Direct.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(name), Principal: c.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(c.CertificateArn)
}

// readRemoveReport reads remove's --report.
func readRemoveReport(t *testing.T, path string) ([]remove.Result, removeSummary) {
	t.Helper()
	return readReportOf[remove.Result, removeSummary](t, path)
}

// runCLIInput is runCLI with stdin reading text, which is not a terminal
// (whatever the test's own standard input is).
func runCLIInput(t *testing.T, text string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb strings.Builder
	cmd := newRootCmd(&out, &errb)
	cmd.SetIn(strings.NewReader(text))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	if err != nil {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), exitCode(err)
}

// mutating are the calls remove makes that change AWS.
var mutating = []string{"DetachPolicy", "RemoveThingFromThingGroup", "DetachThingPrincipal", "UpdateCertificate", "DeleteCertificate", "DeleteThing"}

// TestRemoveEndToEnd is issue #11's check of remove: it asks first, a dry
// run changes nothing, and the removal leaves none of the manifest's
// Things or certificates and keeps a foreign Thing; a later import starts
// afresh.
func TestRemoveEndToEnd(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	const n = 8
	path, trustFile, devs := importForTest(t, e, n)
	foreignARN := foreignThing(t, e, "foreign-thing")
	args := targetArgs(e, "remove", "--trust", trustFile, path)

	t.Run("refuses without --yes and a terminal", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLIInput(t, "yes\n", args...)
		if code != exitFatal || !strings.Contains(stderr, "--yes") || !strings.Contains(out, "for each of its 8 valid devices") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		for _, op := range mutating {
			if c := e.Proxy.Counts()[op]; c != 0 {
				t.Errorf("called %s %d times without --yes", op, c)
			}
		}
	})

	t.Run("dry run", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, append(args, "--dry-run")...)
		if code != exitOK || !strings.Contains(out, "Dry run: nothing was changed") || !strings.Contains(out, "8 valid: 8 to remove, 0 absent, 0 refused") ||
			!strings.Contains(out, "would    ... and 5 more devices\n") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		c := e.Proxy.Counts()
		for _, op := range mutating {
			if c[op] != 0 {
				t.Errorf("dry run called %s %d times", op, c[op])
			}
		}
		if c["DescribeCertificate"] != n || c["ListPrincipalThings"] != n || c["ListThingPrincipals"] != n {
			t.Errorf("dry run calls %v, want one look per device", c)
		}
	})

	reportPath := filepath.Join(t.TempDir(), "remove.jsonl")
	t.Run("remove", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, append(args, "--yes", "--report", reportPath)...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		lines, sum := readRemoveReport(t, reportPath)
		if len(lines) != n+sum.Invalid || sum.Removed != n || sum.ThingsDeleted != n || sum.Invalid == 0 {
			t.Errorf("%d lines, summary %+v", len(lines), sum)
		}
		for _, l := range lines {
			switch l.Status {
			case remove.Skipped:
				if l.Error == "" {
					t.Errorf("%s skipped without a reason", l.ChipID)
				}
			case remove.Removed:
				if l.Thing != remove.ThingDeleted || len(l.Done) != 6 {
					t.Errorf("%s: %+v", l.ThingName, l)
				}
			default:
				t.Errorf("%s: %+v", l.ThingName, l)
			}
		}
		if c := e.Proxy.Total().Calls - 3; c != 9*n {
			t.Errorf("%d calls for %d devices, want 9 each (plus 3 preflight): %v", c, n, e.Proxy.Counts())
		}
		s := botoState(t, e.Moto.URL, iottest.Group)
		if names := slices.Sorted(maps.Keys(s.Things)); !slices.Equal(names, []string{"foreign-thing"}) {
			t.Errorf("things after remove: %v, want only foreign-thing", names)
		}
		if th := s.Things["foreign-thing"]; len(th.Principals) != 1 || th.Principals[0] != foreignARN {
			t.Errorf("foreign-thing principals %v, want its own %s", th.Principals, foreignARN)
		}
		if len(s.Certificates) != 1 || s.Certificates[foreignARN] != "ACTIVE" {
			t.Errorf("certificates after remove: %v, want only the foreign one, ACTIVE", s.Certificates)
		}
		if len(s.Group) != 0 {
			t.Errorf("group still holds %v", s.Group)
		}
	})

	t.Run("again finds nothing", func(t *testing.T) {
		e.Proxy.ResetStats()
		// --report -: the report on standard output, the rest on standard error.
		out, stderr, code := runCLI(t, append(args, "--yes", "--report", "-")...)
		stdoutReport := filepath.Join(t.TempDir(), "stdout.jsonl")
		if err := os.WriteFile(stdoutReport, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		_, sum := readRemoveReport(t, stdoutReport)
		if code != exitOK || sum.Absent != n || sum.Removed != 0 {
			t.Fatalf("exit %d, summary %+v\n%s%s", code, sum, out, stderr)
		}
		if !strings.Contains(stderr, "Absent     8") || strings.Contains(out, "Absent") {
			t.Errorf("the summary for a person is not on standard error alone:\nstdout %s\nstderr %s", out, stderr)
		}
		if c := e.Proxy.Counts(); c["DescribeCertificate"] != n || e.Proxy.Total().Calls != n+3 {
			t.Errorf("calls %v, want one DescribeCertificate per device", c)
		}
	})

	t.Run("a later import starts afresh", func(t *testing.T) {
		reimport := filepath.Join(t.TempDir(), "import.jsonl")
		out, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--rate", "100", "--report", reimport, path)...)
		_, sum := readReport(t, reimport)
		if code != exitSomeDevices || sum.Imported != n || sum.Resumed != 0 {
			t.Fatalf("exit %d, summary %+v\n%s%s", code, sum, out, stderr)
		}
		if out, _, code := runCLI(t, targetArgs(e, "verify", "--trust", trustFile, path)...); code != exitOK {
			t.Errorf("verify after the new import: exit %d\n%s", code, out)
		}
		_ = devs
	})
}

// TestRemoveLeavesOthers checks that remove keeps a device's Thing that
// has another principal, with its groups, and refuses a certificate
// attached to another Thing.
func TestRemoveLeavesOthers(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, devs := importForTest(t, e, 3)
	shared, onTwo, plain := devs[0], devs[1], devs[2]
	sharedARN := foreignCertOn(t, e, shared.ThingName)
	foreignThing(t, e, "other-thing")
	if _, err := e.Direct.AttachThingPrincipal(t.Context(), &iot.AttachThingPrincipalInput{ThingName: aws.String("other-thing"), Principal: aws.String(onTwo.CertificateARN)}); err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(t.TempDir(), "remove.jsonl")
	out, stderr, code := runCLI(t, targetArgs(e, "remove", "--trust", trustFile, "--yes", "--report", reportPath, path)...)
	if code != exitSomeDevices {
		t.Fatalf("exit %d, want 1 (one device refused)\n%s%s", code, out, stderr)
	}
	lines, _ := readRemoveReport(t, reportPath)
	by := map[string]remove.Result{}
	for _, l := range lines {
		by[l.ThingName] = l
	}
	if r := by[shared.ThingName]; r.Status != remove.Removed || r.Thing != remove.ThingKept {
		t.Errorf("shared thing: %+v", r)
	}
	if r := by[onTwo.ThingName]; r.Status != remove.Refused || !strings.Contains(r.Error, "other-thing") {
		t.Errorf("certificate on two things: %+v", r)
	}
	if r := by[plain.ThingName]; r.Status != remove.Removed || r.Thing != remove.ThingDeleted {
		t.Errorf("plain device: %+v", r)
	}
	s := botoState(t, e.Moto.URL, iottest.Group)
	if th, ok := s.Things[shared.ThingName]; !ok || !slices.Equal(th.Principals, []string{sharedARN}) {
		t.Errorf("shared thing: %+v (present %v), want only its other certificate", th, ok)
	}
	if !slices.Contains(s.Group, shared.ThingName) {
		t.Errorf("shared thing taken out of its group: %v", s.Group)
	}
	if th := s.Things[onTwo.ThingName]; len(th.Principals) != 1 || th.Principals[0] != onTwo.CertificateARN || !slices.Equal(th.Policies, []string{iottest.Policy}) {
		t.Errorf("refused device changed: %+v", th)
	}
	if s.Certificates[onTwo.CertificateARN] != "ACTIVE" {
		t.Errorf("refused device's certificate is %q", s.Certificates[onTwo.CertificateARN])
	}
	if _, ok := s.Things[plain.ThingName]; ok {
		t.Errorf("%s not deleted", plain.ThingName)
	}
	if _, ok := s.Certificates[shared.CertificateARN]; ok {
		t.Errorf("shared device's certificate not deleted")
	}
}

// TestRemoveKillResume kills remove with SIGKILL after a random number of
// IoT calls (at most 30 of the more than 300 the removal needs, so every
// kill lands mid-run), runs it again each time, and checks that the end
// state is the one a run without kills leaves: none of the manifest's
// Things or certificates, the foreign Thing untouched, every state record
// emptied.
func TestRemoveKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test runs for several seconds")
	}
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{Latency: 30 * time.Millisecond, Jitter: 40 * time.Millisecond})
	const n = 30
	path, trustFile, devs := importForTest(t, e, n)
	foreignARN := foreignThing(t, e, "foreign-thing")
	statePath := filepath.Join(t.TempDir(), "remove.state")
	reportPath := filepath.Join(t.TempDir(), "remove.jsonl")
	args := targetArgs(e, "remove", "--trust", trustFile, "--yes", "--rate", "50", "--state", statePath, "--report", reportPath, path)

	kills := killRounds(t, e, args, 2, 5, nil)
	if kills == 0 {
		t.Fatal("no run was killed: the removal finished too fast to test")
	}
	lines, sum := readRemoveReport(t, reportPath)
	if len(lines) != n+sum.Invalid || sum.Removed+sum.Absent != n || sum.Failed != 0 || sum.Refused != 0 {
		t.Errorf("final report: %d lines, summary %+v", len(lines), sum)
	}
	s := botoState(t, e.Moto.URL, iottest.Group)
	if names := slices.Sorted(maps.Keys(s.Things)); !slices.Equal(names, []string{"foreign-thing"}) {
		t.Errorf("things after %d kills: %v, want only foreign-thing", kills, names)
	}
	if len(s.Certificates) != 1 || s.Certificates[foreignARN] != "ACTIVE" || len(s.Group) != 0 {
		t.Errorf("after %d kills: certificates %v, group %v", kills, s.Certificates, s.Group)
	}
	st, err := state.OpenReadOnly(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.ForEach(func(key string, d state.Progress) error {
		if len(d.Done) != 0 {
			t.Errorf("record %s left with steps %v", key, d.Done)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills over %d devices", kills, len(devs))
}

// TestRemoveAsksOnATerminal runs remove without --yes on a terminal (a
// pseudo-terminal that script(1) makes): it asks, and only "yes" removes.
func TestRemoveAsksOnATerminal(t *testing.T) {
	isolateAWS(t)
	requireTool(t, "script")
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, devs := importForTest(t, e, 2)
	argv, _ := json.Marshal(targetArgs(e, "remove", "--trust", trustFile, path))
	answer := func(t *testing.T, text string) (string, int) {
		t.Helper()
		cmd := exec.Command("script", "-qec", os.Args[0], "/dev/null")
		cmd.Env = append(os.Environ(), "THINGPRESS_TEST_ARGS="+string(argv))
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		}
		t.Fatalf("script: %v\n%s", err, out)
		return "", 0
	}
	out, code := answer(t, "no\n")
	if code != exitFatal || !strings.Contains(out, `Type "yes" to remove them`) || !strings.Contains(out, "nothing removed") {
		t.Fatalf("answered no: exit %d\n%s", code, out)
	}
	for _, op := range mutating {
		if c := e.Proxy.Counts()[op]; c != 0 {
			t.Errorf("answered no, yet %s was called %d times", op, c)
		}
	}
	out, code = answer(t, "yes\n")
	if code != exitOK || !strings.Contains(out, "Removed    2 devices") {
		t.Fatalf("answered yes: exit %d\n%s", code, out)
	}
	if th := botoState(t, e.Moto.URL, iottest.Group).Things; len(th) != 0 {
		t.Errorf("after yes, things left: %v (devices %s, %s)", slices.Sorted(maps.Keys(th)), devs[0].ThingName, devs[1].ThingName)
	}
}

// TestRemoveFaults removes through a proxy that answers 5xx, drops
// connections (half of them after the call took effect) and throttles at
// AWS's quotas: every device still ends removed, each lost answer's step
// taken as done when it is sent again.
func TestRemoveFaults(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	const n = 12
	path, trustFile, _ := importForTest(t, e, n)
	foreignThing(t, e, "foreign-thing")
	e.Proxy.SetConfig(iotproxy.Config{Quotas: iotproxy.DefaultQuotas(), FaultRate: 0.05, DropRate: 0.08, DropAfterForward: 0.5, Seed: 7})
	reportPath := filepath.Join(t.TempDir(), "remove.jsonl")
	out, stderr, code := runCLI(t, targetArgs(e, "remove", "--trust", trustFile, "--yes", "--report", reportPath, path)...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if _, sum := readRemoveReport(t, reportPath); sum.Removed != n {
		t.Errorf("summary %+v, want %d removed", sum, n)
	}
	var faults, lost int64
	for op, s := range e.Proxy.Stats() {
		faults += s.Faults + s.Dropped
		if slices.Contains(mutating, op) {
			lost += s.DroppedAfterForward
		}
	}
	if lost == 0 {
		t.Fatalf("no change took effect with its answer lost (%d faults): nothing tested", faults)
	}
	t.Logf("%d faults, %d changes whose answer was lost", faults, lost)
	s := botoState(t, e.Moto.URL, iottest.Group)
	if names := slices.Sorted(maps.Keys(s.Things)); !slices.Equal(names, []string{"foreign-thing"}) || len(s.Certificates) != 1 {
		t.Errorf("after %d faults: things %v, certificates %v", faults, names, s.Certificates)
	}
}

// TestRemoveWithoutThePolicy removes without --policy: AWS refuses to
// delete a certificate with a policy attached, and the device fails at
// once, saying so, instead of waiting out the retries; given the policy,
// the same command then finishes it.
func TestRemoveWithoutThePolicy(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, _ := importForTest(t, e, 2)
	reportPath := filepath.Join(t.TempDir(), "remove.jsonl")
	started := time.Now()
	args := []string{"remove", "--endpoint-url", e.Proxy.URL(), "--thing-group", iottest.Group, "--trust", trustFile, "--yes", "--report", reportPath, path}
	out, stderr, code := runCLI(t, args...)
	if code != exitSomeDevices {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	if took := time.Since(started); took > 10*time.Second {
		t.Errorf("took %v: waited on a conflict no wait resolves", took)
	}
	lines, sum := readRemoveReport(t, reportPath)
	if sum.Failed != 2 {
		t.Errorf("summary %+v, want 2 failed", sum)
	}
	for _, l := range lines {
		if l.Status == remove.Failed && !strings.Contains(l.Error, "--policy") {
			t.Errorf("%s: error %q does not point at --policy", l.ThingName, l.Error)
		}
	}
	if out, stderr, code := runCLI(t, targetArgs(e, "remove", "--trust", trustFile, "--yes", "--report", reportPath, path)...); code != exitOK {
		t.Fatalf("with --policy: exit %d\n%s%s", code, out, stderr)
	}
	if s := botoState(t, e.Moto.URL, iottest.Group); len(s.Things) != 0 || len(s.Certificates) != 0 {
		t.Errorf("left: things %v, certificates %v", slices.Sorted(maps.Keys(s.Things)), s.Certificates)
	}
}

// TestRemoveCtrlC stops a removal with SIGINT, as Ctrl-C does, once two
// Things are deleted: it stops cleanly with exit status 1 and says how to
// resume, and the same command then finishes the rest.
func TestRemoveCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{Latency: 30 * time.Millisecond})
	path, trustFile, _ := importForTest(t, e, 20) // at 20 a second, a second of removal left to interrupt
	args := targetArgs(e, "remove", "--trust", trustFile, "--yes", "--rate", "20", path)
	interruptAfter(t, e, args, "DeleteThing", 2)
	if n := e.Proxy.Counts()["DeleteThing"]; n >= 20 {
		t.Fatalf("all %d Things deleted before the interrupt took effect: nothing left to resume", n)
	}
	t.Logf("interrupted with %d of 20 Things deleted", e.Proxy.Counts()["DeleteThing"])
	if _, stderr, code := runCLI(t, args...); code != exitOK {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	if s := botoState(t, e.Moto.URL, iottest.Group); len(s.Things) != 0 || len(s.Certificates) != 0 {
		t.Errorf("left after the resume: things %v, certificates %v", slices.Sorted(maps.Keys(s.Things)), s.Certificates)
	}
}

// TestRemoveEndpointGoesDown: the endpoint stops taking connections part
// way through a removal. It stops within seconds, as an interrupted run,
// with no device failed and the reason named; the same command against
// the endpoint back up finishes the rest.
func TestRemoveEndpointGoesDown(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, _ := importForTest(t, e, 8)
	e.Proxy.SetConfig(iotproxy.Config{RefuseAfter: 3 + 12}) // the preflight, then a device or so
	addr := strings.TrimPrefix(e.Proxy.URL(), "http://")
	reportPath := filepath.Join(t.TempDir(), "remove.jsonl")
	args := targetArgs(e, "remove", "--trust", trustFile, "--yes", "--workers", "2", "--report", reportPath, path)
	runUntilUnreachable(t, addr, args...)
	_, sum := readRemoveReport(t, reportPath)
	if sum.Failed != 0 || sum.Removed >= 8 || !sum.Interrupted || !strings.Contains(sum.Unreachable, addr) {
		t.Errorf("summary %+v: want some not removed, none failed, interrupted, unreachable naming %s", sum, addr)
	}

	endpointBack(t, e, addr)
	if out, stderr, code := runCLI(t, args...); code != exitOK {
		t.Fatalf("the endpoint back: exit %d\n%s%s", code, out, stderr)
	}
	if s := botoState(t, e.Moto.URL, iottest.Group); len(s.Things) != 0 || len(s.Certificates) != 0 {
		t.Errorf("left: things %v, certificates %v", slices.Sorted(maps.Keys(s.Things)), s.Certificates)
	}
}
