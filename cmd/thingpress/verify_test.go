package main

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/inspect"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/verify"
)

// targetArgs are the flags that name env's resources and endpoint.
func targetArgs(e *iottest.Env, cmd string, extra ...string) []string {
	args := []string{cmd, "--endpoint-url", e.Proxy.URL(), "--policy", iottest.Policy,
		"--thing-type", iottest.ThingType, "--thing-group", iottest.Group}
	return append(args, extra...)
}

func readVerdicts(t *testing.T, out string) map[string]verify.Result {
	t.Helper()
	got := map[string]verify.Result{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r verify.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("verify line %q: %v", sc.Text(), err)
		}
		if _, dup := got[r.ThingName]; dup {
			t.Errorf("%s reported twice", r.ThingName)
		}
		got[r.ThingName] = r
	}
	return got
}

// importForTest imports a generated manifest of n good devices (and the
// generator's bad ones) into e and returns the manifest, its CA and the
// imported devices' report lines.
func importForTest(t *testing.T, e *iottest.Env, n int) (path, trustFile string, imported []importer.Result) {
	t.Helper()
	path, trustFile, _ = writeTestManifest(t, generate.FormatXML, n, true)
	reportPath := filepath.Join(t.TempDir(), "import.jsonl")
	if out, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--rate", "100", "--report", reportPath, path)...); code != exitSomeDevices {
		t.Fatalf("import: exit %d, want 1 (bad devices skipped)\n%s%s", code, out, stderr)
	}
	lines, sum := readReport(t, reportPath)
	if sum.Imported != n {
		t.Fatalf("import summary %+v, want %d imported", sum, n)
	}
	for _, l := range lines {
		if l.Status == "imported" {
			imported = append(imported, l)
		}
	}
	slices.SortFunc(imported, func(a, b importer.Result) int { return strings.Compare(a.ThingName, b.ThingName) })
	return path, trustFile, imported
}

// TestVerifyAfterImport is issue #11's check of verify: all complete after
// an import; after a Thing is taken out of its group and a policy is
// detached from another device's certificate with the AWS CLI, exactly
// those two are named.
func TestVerifyAfterImport(t *testing.T) {
	isolateAWS(t)
	requireTool(t, "aws")
	e := iottest.New(t, iotproxy.Config{})
	const n = 6
	path, trustFile, devs := importForTest(t, e, n)
	verifyArgs := targetArgs(e, "verify", "--trust", trustFile, path)

	t.Run("all complete", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, verifyArgs...)
		if code != exitOK || !strings.Contains(out, "All 6 devices are complete.") || !strings.Contains(out, "6 valid: 6 complete, 0 incomplete, 0 missing") {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		if !strings.Contains(out, "invalid in the manifest, not checked") {
			t.Errorf("table does not count the invalid devices:\n%s", out)
		}
		c := e.Proxy.Counts()
		want := map[string]int64{"DescribeCertificate": n, "ListPrincipalThings": n, "ListThingsInThingGroup": 1, "ListTargetsForPolicy": 1, "ListThings": 1,
			"GetPolicy": 1, "DescribeThingType": 1, "DescribeThingGroup": 1}
		for op, w := range want {
			if c[op] != w {
				t.Errorf("%s called %d times, want %d (all: %v)", op, c[op], w, c)
			}
		}
		for op := range c {
			if _, ok := want[op]; !ok {
				t.Errorf("verify called %s %d times", op, c[op])
			}
		}
	})

	outOfGroup, detached := devs[1], devs[4]
	awsIoT(t, e.Moto.URL, nil, "remove-thing-from-thing-group", "--thing-group-name", iottest.Group, "--thing-name", outOfGroup.ThingName)
	awsIoT(t, e.Moto.URL, nil, "detach-policy", "--policy-name", iottest.Policy, "--target", detached.CertificateARN)

	t.Run("names exactly the two changed", func(t *testing.T) {
		out, stderr, code := runCLI(t, append(verifyArgs, "--output", "json")...)
		if code != exitSomeDevices {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
		}
		got := readVerdicts(t, out)
		if len(got) != n {
			t.Fatalf("%d lines, want one per valid device (%d):\n%s", len(got), n, out)
		}
		for _, d := range devs {
			r := got[d.ThingName]
			var want []string
			switch d.ThingName {
			case outOfGroup.ThingName:
				want = []string{"thing not in group " + iottest.Group}
			case detached.ThingName:
				want = []string{"policy " + iottest.Policy + " not attached"}
			}
			wantStatus := verify.Complete
			if want != nil {
				wantStatus = verify.Incomplete
			} else {
				want = []string{}
			}
			if r.Status != wantStatus || !slices.Equal(r.Problems, want) || r.CertificateID != d.CertificateID {
				t.Errorf("%s: %+v, want %s %q", d.ThingName, r, wantStatus, want)
			}
		}
		table, _, code := runCLI(t, verifyArgs...)
		if code != exitSomeDevices || !strings.Contains(table, "6 valid: 4 complete, 2 incomplete, 0 missing") ||
			!strings.Contains(table, outOfGroup.ThingName) || !strings.Contains(table, detached.ThingName) || strings.Contains(table, devs[0].ThingName) {
			t.Errorf("exit %d, table:\n%s", code, table)
		}
	})

	t.Run("a certificate on two things", func(t *testing.T) {
		ctx := t.Context()
		shared := devs[2]
		if _, err := e.Direct.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("someone-else")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Direct.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String("someone-else"), Principal: aws.String(shared.CertificateARN)}); err != nil {
			t.Fatal(err)
		}
		out, _, code := runCLI(t, append(verifyArgs, "--output", "json")...)
		r := readVerdicts(t, out)[shared.ThingName]
		if code != exitSomeDevices || r.Status != verify.Incomplete || !slices.Equal(r.Problems, []string{"certificate attached to 2 things, also to someone-else"}) {
			t.Errorf("exit %d, %+v", code, r)
		}
	})

	t.Run("missing and without thing", func(t *testing.T) {
		ctx := t.Context()
		gone := devs[5]
		for _, step := range []func() error{
			func() error {
				_, err := e.Direct.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(iottest.Policy), Target: aws.String(gone.CertificateARN)})
				return err
			},
			func() error {
				_, err := e.Direct.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String(gone.ThingName), Principal: aws.String(gone.CertificateARN)})
				return err
			},
			func() error {
				_, err := e.Direct.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(gone.CertificateID), NewStatus: "INACTIVE"})
				return err
			},
			func() error {
				_, err := e.Direct.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(gone.CertificateID)})
				return err
			},
			func() error {
				_, err := e.Direct.RemoveThingFromThingGroup(ctx, &iot.RemoveThingFromThingGroupInput{ThingGroupName: aws.String(iottest.Group), ThingName: aws.String(gone.ThingName)})
				return err
			},
			func() error {
				_, err := e.Direct.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String(gone.ThingName)})
				return err
			},
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		e.Proxy.ResetStats()
		out, _, code := runCLI(t, append(verifyArgs, "--output", "json")...)
		r := readVerdicts(t, out)[gone.ThingName]
		if code != exitSomeDevices || r.Status != verify.Missing || !slices.Equal(r.Problems, []string{"certificate not registered", "thing does not exist"}) {
			t.Errorf("exit %d, %+v", code, r)
		}
		// Only the missing device needs DescribeThing: every other
		// certificate is attached to its Thing, which is of the type.
		if c := e.Proxy.Counts()["DescribeThing"]; c != 1 {
			t.Errorf("DescribeThing called %d times, want 1 (the missing device)", c)
		}
	})

	t.Run("bad output flag", func(t *testing.T) {
		_, stderr, code := runCLI(t, append(verifyArgs, "--output", "yaml")...)
		if code != exitFatal || !strings.Contains(stderr, `--output "yaml"`) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

// TestVerifyWithinQuotas verifies through a proxy that throttles at AWS's
// default quotas: two calls per device, none throttled, at about the 10/s
// of the per-device calls.
func TestVerifyWithinQuotas(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	const n = 20
	path, trustFile, _ := importForTest(t, e, n)
	e.Proxy.SetConfig(iotproxy.Config{Quotas: iotproxy.DefaultQuotas(), Latency: 20 * time.Millisecond})
	e.Proxy.ResetStats()
	started := time.Now()
	out, stderr, code := runCLI(t, targetArgs(e, "verify", "--trust", trustFile, path)...)
	took := time.Since(started)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	total := e.Proxy.Total()
	if total.Throttled != 0 {
		t.Errorf("%d calls throttled: %v", total.Throttled, e.Proxy.Counts())
	}
	if perDevice := float64(total.Calls-6) / n; perDevice != 2 {
		t.Errorf("%.2f calls per device, want 2 (%v)", perDevice, e.Proxy.Counts())
	}
	// 20 DescribeCertificate at 10/s with a burst of 9: at least 1.1 s.
	if took < 1100*time.Millisecond || took > 20*time.Second {
		t.Errorf("took %v for %d devices at 10/s", took, n)
	}
	t.Logf("%d devices in %v", n, took)
}

// TestVerifyJSONInManifestOrder: --output json writes the devices in the
// manifest's order, whatever order the answers come back in (the proxy
// delays each by up to 20 ms).
func TestVerifyJSONInManifestOrder(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{Jitter: 20 * time.Millisecond, Seed: 7})
	const n = 16
	path, trustFile, _ := importForTest(t, e, n)
	out, stderr, code := runCLI(t, targetArgs(e, "verify", "--trust", trustFile, "--output", "json", "--workers", "8", path)...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r verify.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("verify line %q: %v", sc.Text(), err)
		}
		got = append(got, r.ThingName)
	}
	inspected, _, _ := runCLI(t, "inspect", "--trust", trustFile, "--output", "json", path)
	var want []string
	for _, l := range readJSONL(t, inspected) {
		if l.Status == inspect.StatusOK {
			want = append(want, l.ThingName)
		}
	}
	if len(want) != n || !slices.Equal(got, want) {
		t.Errorf("verify lines in order\n%v\nwant the manifest's\n%v", got, want)
	}
}
