package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// TestImportNameTakenCostsNoCertificate: a Thing of one device's name
// with other settings fails that device before its certificate is
// registered; the others are complete.
func TestImportNameTakenCostsNoCertificate(t *testing.T) {
	isolateAWS(t)
	requireTool(t, "aws")
	e := iottest.New(t, iotproxy.Config{StrictCreateThing: true})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 4, false)
	devs := devicesOf(t, path, trustFile)
	if len(devs) != 4 {
		t.Fatalf("%d devices, want 4", len(devs))
	}
	taken := devs[1]
	// Somebody else's Thing, made through the proxy so that it knows the
	// Thing's settings.
	if _, err := e.Via.CreateThing(t.Context(), &iot.CreateThingInput{ThingName: aws.String(taken.ThingName),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"owner": "someone-else"}}}); err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(t.TempDir(), "report.jsonl")
	out, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--rate", "100", "--report", reportPath, path)...)
	if code != exitSomeDevices {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	lines, sum := readReport(t, reportPath)
	if sum.Imported != 3 || sum.Failed != 1 || sum.LeftHalfMade != 0 || len(lines) != 4 {
		t.Errorf("%d lines, summary %+v", len(lines), sum)
	}
	imported := map[string]bool{}
	for _, l := range lines {
		if l.ThingName == taken.ThingName {
			if l.Status != "failed" || !strings.Contains(l.Error, "exists with other settings") || l.Left != nil || l.CertificateARN != "" {
				t.Errorf("the device whose name is taken: %+v, want failed, nothing left", l)
			}
			continue
		}
		if l.Status != "imported" {
			t.Errorf("%s: %+v", l.ChipID, l)
		}
		imported[l.CertificateARN] = true
	}
	// AWS holds no certificate but those of the complete devices.
	var certs awsCertificates
	awsIoT(t, e.Moto.URL, &certs, "list-certificates")
	if len(certs.Certificates) != 3 {
		t.Errorf("aws iot list-certificates: %d certificates, want 3", len(certs.Certificates))
	}
	for _, c := range certs.Certificates {
		if c.Status != "ACTIVE" || !imported[c.CertificateArn] {
			t.Errorf("certificate %s (%s) belongs to no imported device", c.CertificateID, c.Status)
		}
	}
	// The other Thing is untouched; without it, the rest is complete.
	th, err := e.Direct.DescribeThing(t.Context(), &iot.DescribeThingInput{ThingName: aws.String(taken.ThingName)})
	if err != nil || th.Attributes["owner"] != "someone-else" || th.ThingTypeName != nil {
		t.Errorf("the existing thing was changed: %+v %v", th, err)
	}
	if _, err := e.Direct.DeleteThing(t.Context(), &iot.DeleteThingInput{ThingName: aws.String(taken.ThingName)}); err != nil {
		t.Fatal(err)
	}
	e.AssertComplete(t, slices.Delete(slices.Clone(devs), 1, 2))
}

// TestImportHalfMadeReported: the thing group is deleted after the
// preflight, so every device fails after its certificate is registered.
// Each one's report line says what it left, the summary counts them, the
// jq line of import --help lists them, the exit status is 1, and the same
// command finishes them once the group is back.
func TestImportHalfMadeReported(t *testing.T) {
	isolateAWS(t)
	requireTool(t, "aws")
	var direct atomic.Pointer[iot.Client]
	var once sync.Once
	e := iottest.New(t, iotproxy.Config{Observe: func(op string, r *http.Request, body []byte) {
		if op != "CreateThing" {
			return
		}
		once.Do(func() {
			if _, err := direct.Load().DeleteThingGroup(r.Context(), &iot.DeleteThingGroupInput{ThingGroupName: aws.String(iottest.Group)}); err != nil {
				t.Errorf("delete thing group: %v", err)
			}
		})
	}})
	direct.Store(e.Direct)
	const n = 4
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, n, false)
	devs := devicesOf(t, path, trustFile)
	reportPath := filepath.Join(t.TempDir(), "report.jsonl")
	args := importArgs(e, "--trust", trustFile, "--rate", "100", "--report", reportPath, path)
	out, stderr, code := runCLI(t, args...)
	if code != exitSomeDevices {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "Left half-made 4") || !strings.Contains(out, reportPath+", lines with left_in_aws") {
		t.Errorf("summary does not name the half-made devices:\n%s", out)
	}
	lines, sum := readReport(t, reportPath)
	if sum.Failed != n || sum.LeftHalfMade != n || len(lines) != n {
		t.Fatalf("%d lines, summary %+v", len(lines), sum)
	}
	left := map[string]bool{}
	for _, l := range lines {
		lf := l.Left
		if l.Status != "failed" || !strings.Contains(l.Error, "AddThingToThingGroup: ResourceNotFoundException") || lf == nil {
			t.Errorf("%s: %+v, want failed with left_in_aws", l.ChipID, l)
			continue
		}
		wantDone := []string{state.StepThing, state.StepRegister, state.StepPrincipal, state.PolicyStep(iottest.Policy)}
		if lf.CertificateARN != l.CertificateARN || lf.CertificateARN == "" || lf.CertificateStatus != "ACTIVE" || lf.CertificateExisted ||
			lf.Thing != l.ThingName || lf.ThingCreated != "this run" ||
			!slices.Equal(lf.Done, wantDone) || !slices.Equal(lf.Missing, []string{state.GroupStep(iottest.Group)}) {
			t.Errorf("%s: left_in_aws %+v", l.ChipID, lf)
		}
		left[lf.CertificateARN] = true
	}
	// AWS holds exactly the certificates the report names, ACTIVE.
	var certs awsCertificates
	awsIoT(t, e.Moto.URL, &certs, "list-certificates")
	if len(certs.Certificates) != n {
		t.Errorf("aws iot list-certificates: %d certificates, want %d", len(certs.Certificates), n)
	}
	for _, c := range certs.Certificates {
		if c.Status != "ACTIVE" || !left[c.CertificateArn] {
			t.Errorf("certificate %s (%s) is not in the report's left_in_aws", c.CertificateArn, c.Status)
		}
	}

	t.Run("the jq line of the help lists them", func(t *testing.T) {
		requireTool(t, "jq")
		help, _, _ := runCLI(t, "import", "--help")
		var jq string
		for line := range strings.Lines(help) {
			if s := strings.TrimSpace(line); strings.HasPrefix(s, "jq ") {
				jq = s
			}
		}
		if !strings.HasSuffix(jq, " REPORT") {
			t.Fatalf("import --help has no jq line ending in REPORT:\n%s", help)
		}
		out, err := exec.Command("sh", "-c", strings.TrimSuffix(jq, "REPORT")+"'"+reportPath+"'").Output()
		if err != nil {
			t.Fatalf("%s: %v", jq, err)
		}
		if got := len(strings.Split(strings.TrimSpace(string(out)), "\n")); got != n || !strings.Contains(string(out), `"left_in_aws"`) {
			t.Errorf("%s listed %d lines, want %d:\n%s", jq, got, n, out)
		}
	})

	t.Run("the same command finishes them", func(t *testing.T) {
		if _, err := e.Direct.CreateThingGroup(t.Context(), &iot.CreateThingGroupInput{ThingGroupName: aws.String(iottest.Group)}); err != nil {
			t.Fatal(err)
		}
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		_, sum := readReport(t, reportPath)
		if sum.Imported != n || sum.LeftHalfMade != 0 {
			t.Errorf("summary %+v, want %d imported", sum, n)
		}
		if c := e.Proxy.Counts()["AddThingToThingGroup"]; c != n || e.Proxy.Total().Calls != n+3 {
			t.Errorf("calls %v, want only the missing step and the preflight", e.Proxy.Counts())
		}
		e.AssertComplete(t, devs)
	})
}
