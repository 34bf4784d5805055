package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// TestImportThingName imports with a --thing-name template and checks the
// names in moto; a template that gives duplicate or invalid names, or has
// an unknown field, is refused before any call that changes AWS.
func TestImportThingName(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 4, false)
	devs := devicesOf(t, path, trustFile)

	refused := []struct {
		name     string
		template string
		wantErr  string
	}{
		{name: "duplicates", template: "reel-{reel_id}", wantErr: "thing name template gives invalid or duplicate names (template \"reel-{reel_id}\"): 3 devices, nothing imported: " + path},
		{name: "too long", template: "{cn}-{cn}-{cn}-{cn}-{cn}", wantErr: "is not a valid AWS IoT thing name"},
		{name: "unknown field", template: "{serial}", wantErr: "--thing-name: invalid thing name template \"{serial}\": unknown field {serial}"},
		{name: "bad literal", template: "a b-{cn}", wantErr: `literal text "a b-"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e.Proxy.ResetStats()
			_, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--thing-name", tt.template, path)...)
			if code != exitFatal || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want 2 with %q", code, stderr, tt.wantErr)
			}
			for op, n := range e.Proxy.Counts() {
				t.Errorf("a refused template called %s %d times", op, n)
			}
		})
	}

	t.Run("template", func(t *testing.T) {
		e.Proxy.ResetStats()
		out, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--rate", "100", "--thing-name", "{vendor}_{reel_id}-{chip_id}", path)...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		for i := range devs {
			devs[i].ThingName = "Infineon_" + devs[i].ReelID + "-" + devs[i].ChipID
		}
		e.AssertComplete(t, devs)
	})
}

// TestImportExclusive imports with --exclusive behind a proxy that gives
// EXCLUSIVE_THING AWS's meaning: every device is complete, and AWS then
// refuses each certificate for a second Thing.
func TestImportExclusive(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{StrictExclusive: true})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 3, false)
	devs := devicesOf(t, path, trustFile)
	reportPath := filepath.Join(t.TempDir(), "r.jsonl")
	if out, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--exclusive", "--report", reportPath, path)...); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	e.AssertComplete(t, devs)
	lines, _ := readReport(t, reportPath)
	ctx := context.WithoutCancel(t.Context())
	if _, err := e.Via.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("second")}); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		_, err := e.Via.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String("second"), Principal: aws.String(l.CertificateARN)})
		if awsconf.Code(err) != "InvalidRequestException" {
			t.Errorf("%s: second thing: %v, want InvalidRequestException", l.ChipID, err)
		}
	}
}

func TestImportRegisterOnlyArguments(t *testing.T) {
	isolateAWS(t)
	path := filepath.Join(t.TempDir(), "m.xml")
	runUsageCases(t, []usageCase{
		{name: "inactive alone", args: []string{"import", "--policy", "p", "--inactive", path}, want: "--inactive applies to --register-only"},
		{name: "register-only with policy", args: []string{"import", "--register-only", "--policy", "p", path}, want: "--policy, --thing-type, --thing-group, --exclusive and --thing-name belong to bind"},
		{name: "register-only with exclusive", args: []string{"import", "--register-only", "--exclusive", path}, want: "belong to bind"},
		{name: "register-only with thing name", args: []string{"import", "--register-only", "--thing-name", "{cn}", path}, want: "belong to bind"},
	})
}

// TestInspectThingName shows the names a template gives, as import would
// make them, and refuses an unknown field.
func TestInspectThingName(t *testing.T) {
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 3, false)
	out, stderr, code := runCLI(t, "inspect", "--trust", trustFile, "--thing-name", "tp-{chip_id}", "-o", "json", path)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	recs := readJSONL(t, out)
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if r.ThingName != "tp-"+r.ChipID {
			t.Errorf("%s: thing name %q", r.ChipID, r.ThingName)
		}
	}
	out, _, code = runCLI(t, "inspect", "--trust", trustFile, "--thing-name", "{reel_id}", "-o", "json", path)
	if code != exitSomeDevices || strings.Count(out, "duplicate thing name") != 2 {
		t.Errorf("a template giving one name to all: exit %d\n%s", code, out)
	}
	if _, stderr, code := runCLI(t, "inspect", "--thing-name", "{nope}", path); code != exitFatal || !strings.Contains(stderr, "unknown field {nope}") {
		t.Errorf("unknown field: exit %d, %q", code, stderr)
	}
}

// TestVerifyRemoveThingName: verify and remove take the --thing-name the
// import was given and find the Things under those names: without it
// verify finds no Thing and remove keeps the Things (the certificate is
// attached to a Thing that is not the device's, so it is refused); with
// it every device is complete, then removed with its Thing.
func TestVerifyRemoveThingName(t *testing.T) {
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{})
	const n = 4
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, n, false)
	const template = "{vendor}-{chip_id}"
	if out, stderr, code := runCLI(t, importArgs(e, "--trust", trustFile, "--rate", "100", "--thing-name", template, path)...); code != exitOK {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	named := func(s awsState) int {
		k := 0
		for name := range s.Things {
			if strings.HasPrefix(name, "Infineon-") {
				k++
			}
		}
		return k
	}
	if s := botoState(t, e.Moto.URL, iottest.Group); named(s) != n {
		t.Fatalf("import made things %v", s.Things)
	}

	out, _, code := runCLI(t, targetArgs(e, "verify", "--trust", trustFile, path)...)
	if code != exitSomeDevices {
		t.Errorf("verify without --thing-name: exit %d, want 1\n%s", code, out)
	}
	out, stderr, code := runCLI(t, targetArgs(e, "verify", "--trust", trustFile, "--thing-name", template, path)...)
	if code != exitOK || !strings.Contains(out, "All 4 devices are complete.") {
		t.Errorf("verify --thing-name: exit %d\n%s%s", code, out, stderr)
	}

	reportPath := filepath.Join(t.TempDir(), "remove.jsonl")
	out, stderr, code = runCLI(t, targetArgs(e, "remove", "--trust", trustFile, "--yes", "--report", reportPath, path)...)
	if _, sum := readRemoveReport(t, reportPath); code != exitSomeDevices || sum.Refused != n || sum.Removed != 0 {
		t.Errorf("remove without --thing-name: exit %d, summary %+v, want %d refused\n%s%s", code, sum, n, out, stderr)
	}
	out, stderr, code = runCLI(t, targetArgs(e, "remove", "--trust", trustFile, "--yes", "--thing-name", template, "--report", reportPath, path)...)
	if _, sum := readRemoveReport(t, reportPath); code != exitOK || sum.Removed != n || sum.ThingsDeleted != n {
		t.Errorf("remove --thing-name: exit %d, summary %+v\n%s%s", code, sum, out, stderr)
	}
	if s := botoState(t, e.Moto.URL, iottest.Group); len(s.Things) != 0 || len(s.Certificates) != 0 {
		t.Errorf("after remove --thing-name boto3 sees things %v, certificates %v", s.Things, s.Certificates)
	}
	if _, stderr, code := runCLI(t, "verify", "--thing-name", "{serial}", path); code != exitFatal || !strings.Contains(stderr, "unknown field {serial}") {
		t.Errorf("verify with an unknown field: exit %d, %q", code, stderr)
	}
}
