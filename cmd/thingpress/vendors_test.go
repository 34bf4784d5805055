package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/inspect"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// The chip makers' samples, under ../shared/fixtures.
const (
	sampleMicrochip = "ECC608C-TNGTLSU-B.json" // Trust&GO: 10 devices
	sampleTrustFLEX = "ECC608-TMNGTLSS-B.json" // TrustFLEX: 10 entries without a certificate
	sampleEspressif = "manifest-espressif.csv" // 7 devices
	sampleGenerated = "certificates_test.txt"  // 100 devices, expired on 2025-09-13
)

// The vendor readers' own small manifests, each mixing good and bad
// entries.
const (
	mixedMicrochip = "../../internal/manifest/microchip/testdata/mixed.json"
	mixedSigner    = "../../internal/manifest/microchip/testdata/signer.crt"
	mixedEspressif = "../../internal/manifest/espressif/testdata/mixed.csv"
	mixedGenerated = "../../internal/manifest/generated/testdata/mixed.txt"
)

// beforeExpiry is a time at which the generated sample's certificates
// were valid.
const beforeExpiry = "2025-09-01T00:00:00Z"

// goldenTime is when the vendor readers' test manifests are checked:
// their certificates were made in November 2026.
const goldenTime = "2027-01-01T00:00:00Z"

func sample(t *testing.T, name string) string {
	t.Helper()
	return sharedFixture(t, filepath.Join("thingpress-artifacts", name))
}

// statuses counts inspect's JSON records by status and collects the
// invalid ones' reasons.
func statuses(t *testing.T, out string) (ok, invalid int, reasons []string, recs []inspect.Line) {
	t.Helper()
	recs = readJSONL(t, out)
	for _, r := range recs {
		switch r.Status {
		case inspect.StatusOK:
			ok++
		case inspect.StatusInvalid:
			invalid++
			reasons = append(reasons, r.Error)
		default:
			t.Fatalf("status %q", r.Status)
		}
	}
	return ok, invalid, reasons, recs
}

func TestInspectVendorSamples(t *testing.T) {
	tests := []struct {
		name        string
		file        string
		args        []string
		wantVendor  string
		wantOK      int
		wantInvalid int
		wantReason  string // in every invalid device's reason
		wantCode    int
	}{
		{name: "microchip", file: sampleMicrochip, args: []string{"--no-verify-chain"}, wantVendor: "Microchip", wantOK: 10, wantCode: exitOK},
		{name: "microchip needs no trust flag", file: sampleMicrochip, wantVendor: "Microchip", wantOK: 10, wantCode: exitOK},
		{name: "microchip forced by the old --format", file: sampleMicrochip, args: []string{"--format", "microchip", "--vendor", "Microchip"}, wantVendor: "Microchip", wantOK: 10, wantCode: exitOK},
		{name: "microchip forced", file: sampleMicrochip, args: []string{"--vendor", "MICROCHIP"}, wantVendor: "Microchip", wantOK: 10, wantCode: exitOK},
		{name: "trustflex", file: sampleTrustFLEX, args: []string{"--no-verify-chain"}, wantVendor: "Microchip", wantInvalid: 10,
			wantReason: "no device certificate: signed payload (version 2) has no publicKeySet", wantCode: exitSomeDevices},
		{name: "espressif", file: sampleEspressif, args: []string{"--no-verify-chain"}, wantVendor: "Espressif", wantOK: 7, wantCode: exitOK},
		{name: "generated before expiry", file: sampleGenerated, args: []string{"--no-verify-chain", "--valid-at", beforeExpiry},
			wantVendor: "generated", wantOK: 100, wantCode: exitOK},
		{name: "generated today", file: sampleGenerated, args: []string{"--no-verify-chain"}, wantVendor: "generated", wantInvalid: 100,
			wantReason: "certificate expired on 2025-09-13", wantCode: exitSomeDevices},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := sample(t, tt.file)
			out, stderr, code := runCLI(t, append(append([]string{"inspect", "-o", "json"}, tt.args...), path)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, stderr)
			}
			ok, invalid, reasons, recs := statuses(t, out)
			if ok != tt.wantOK || invalid != tt.wantInvalid {
				t.Fatalf("%d ok, %d invalid; want %d, %d", ok, invalid, tt.wantOK, tt.wantInvalid)
			}
			for _, r := range reasons {
				if !strings.Contains(r, tt.wantReason) {
					t.Errorf("reason %q, want it to say %q", r, tt.wantReason)
				}
			}
			names := map[string]bool{}
			for _, r := range recs {
				if r.Vendor != tt.wantVendor {
					t.Errorf("%s: vendor %q, want %q", r.Entry, r.Vendor, tt.wantVendor)
				}
				if r.Status == inspect.StatusOK {
					names[r.ThingName] = true
				}
			}
			if len(names) != ok {
				t.Errorf("%d distinct thing names for %d devices", len(names), ok)
			}
			table, _, tcode := runCLI(t, append(append([]string{"inspect"}, tt.args...), path)...)
			if tcode != code || !strings.Contains(table, "\nVendor    "+tt.wantVendor+"\n") {
				t.Errorf("table (exit %d) does not name vendor %s:\n%s", tcode, tt.wantVendor, table)
			}
		})
	}
}

// TestInspectMicrochipSignatures spoils one entry's signature in a copy of
// the sample: that entry, and only that one, is invalid, so every
// signature is checked.
func TestInspectMicrochipSignatures(t *testing.T) {
	data, err := os.ReadFile(sample(t, sampleMicrochip))
	if err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	if err := json.Unmarshal(data, &entries); err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		sig, err := base64.RawURLEncoding.DecodeString(entries[i]["signature"].(string))
		if err != nil {
			t.Fatal(err)
		}
		sig[10] ^= 1
		spoilt := append([]map[string]any(nil), entries...)
		e := map[string]any{}
		for k, v := range entries[i] {
			e[k] = v
		}
		e["signature"] = base64.RawURLEncoding.EncodeToString(sig)
		spoilt[i] = e
		b, _ := json.Marshal(spoilt)
		path := filepath.Join(t.TempDir(), "spoilt.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := runCLI(t, "inspect", "-o", "json", path)
		if code != exitSomeDevices {
			t.Fatalf("entry %d spoilt: exit %d\n%s", i+1, code, stderr)
		}
		ok, invalid, reasons, _ := statuses(t, out)
		if ok != 9 || invalid != 1 || !strings.Contains(reasons[0], "signature does not verify") {
			t.Fatalf("entry %d spoilt: %d ok, %d invalid %q", i+1, ok, invalid, reasons)
		}
	}
}

func TestInspectVendorArguments(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantErr  []string
		wantCode int
	}{
		{name: "espressif without trust", args: []string{mixedEspressif}, wantErr: []string{"--trust", "--no-verify-chain", "Espressif"}},
		{name: "generated without trust", args: []string{mixedGenerated}, wantErr: []string{"--trust", "--no-verify-chain", "generated"}},
		{name: "cert-type for microchip", args: []string{"--cert-type", "E0E1", "--signer", mixedSigner, mixedMicrochip}, wantErr: []string{"--cert-type applies to Infineon manifests only"}},
		{name: "cert-type for espressif", args: []string{"--cert-type", "E0E0", "--no-verify-chain", mixedEspressif}, wantErr: []string{"--cert-type applies to Infineon manifests only"}},
		{name: "signer for espressif", args: []string{"--signer", mixedSigner, "--no-verify-chain", mixedEspressif}, wantErr: []string{"--signer applies to Microchip manifests only"}},
		{name: "signer for infineon", args: []string{"--signer", mixedSigner, "testdata/mini-reel.7z"}, wantErr: []string{"--signer applies to Microchip manifests only"}},
		{name: "unknown vendor", args: []string{"--vendor", "nxp", mixedEspressif}, wantErr: []string{"--vendor", "nxp"}},
		{name: "format and vendor disagree", args: []string{"--vendor", "espressif", "--format", "xml", mixedEspressif}, wantErr: []string{"disagree"}},
		{name: "wrong vendor forced", args: []string{"--vendor", "espressif", "--no-verify-chain", mixedMicrochip}, wantErr: []string{"mixed.json", "header is not MAC,cn,cert"}},
		{name: "bad signer file", args: []string{"--signer", mixedEspressif, mixedMicrochip}, wantErr: []string{"--signer"}},
		{name: "bad valid-at", args: []string{"--valid-at", "tomorrow", "--no-verify-chain", mixedEspressif}, wantErr: []string{"--valid-at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runCLI(t, append([]string{"inspect"}, tt.args...)...)
			if code != exitFatal {
				t.Fatalf("exit %d, want 2\n%s%s", code, out, stderr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not say %q", stderr, w)
				}
			}
		})
	}
}

// TestInspectVendorGolden runs inspect over the vendor readers' own small
// manifests, in both outputs, at a fixed time.
func TestInspectVendorGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "microchip", args: []string{"--signer", mixedSigner, mixedMicrochip}},
		{name: "espressif", args: []string{"--no-verify-chain", mixedEspressif}},
		{name: "generated", args: []string{"--no-verify-chain", mixedGenerated}},
	}
	for _, tt := range tests {
		for _, output := range []string{"table", "json"} {
			t.Run(tt.name+"/"+output, func(t *testing.T) {
				args := append([]string{"inspect", "--valid-at", goldenTime, "-o", output}, tt.args...)
				out, stderr, code := runCLI(t, args...)
				if code != exitSomeDevices {
					t.Fatalf("exit %d, want 1 (the manifest has bad entries)\n%s", code, stderr)
				}
				checkGolden(t, filepath.Join("testdata", "vendors", tt.name+"."+output+".golden"), out)
			})
		}
	}
}

// awsState is what boto3 finds in moto (iottest.BotoState).
type awsState = iottest.AWSState

// botoState asks moto, through boto3, what it holds.
func botoState(t *testing.T, endpoint, group string) awsState {
	t.Helper()
	return iottest.BotoState(t, endpoint, group)
}

// generatedManifest writes a generated manifest of n devices (each line
// the base64 of the leaf's PEM and its CA's) and the CA's PEM file.
func generatedManifest(t *testing.T, n int) (path, trustFile string, names []string) {
	t.Helper()
	ca, err := generate.NewRoot("thingpress generated test CA")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range n {
		name := fmt.Sprintf("gen-device-%03d", i)
		leaf, err := ca.Issue(generate.LeafOptions{CommonName: name})
		if err != nil {
			t.Fatal(err)
		}
		text := append(generate.PEM(leaf.Cert), generate.PEM(ca.Cert)...)
		b.WriteString(base64.StdEncoding.EncodeToString(text) + "\n")
		names = append(names, name)
	}
	dir := t.TempDir()
	path, trustFile = filepath.Join(dir, "certificates.txt"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trustFile, generate.PEM(ca.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, trustFile, names
}

// TestImportVendors imports each vendor's manifest into moto behind the
// proxy and checks, with boto3 once per test, that every device is a
// complete Thing with the vendor's name and attributes.
func TestImportVendors(t *testing.T) {
	isolateAWS(t)
	type want struct {
		devices int
		attrs   []string // attribute names every Thing has
		noType  bool     // imported without --thing-type
	}
	tests := []struct {
		name string
		// manifest returns the manifest and the flags that go with it.
		manifest func(t *testing.T) (string, []string)
		want     want
	}{
		{name: "microchip", manifest: func(t *testing.T) (string, []string) { return sample(t, sampleMicrochip), nil },
			want: want{devices: 10, attrs: []string{"chip_id", "groupId", "partNumber", "provisioningTimestamp"}}},
		{name: "microchip without a thing type", manifest: func(t *testing.T) (string, []string) { return sample(t, sampleMicrochip), nil },
			want: want{devices: 10, attrs: []string{"chip_id", "groupId", "partNumber"}, noType: true}},
		{name: "espressif", manifest: func(t *testing.T) (string, []string) {
			return sample(t, sampleEspressif), []string{"--no-verify-chain"}
		}, want: want{devices: 7, attrs: []string{"chip_id", "cn"}}},
		{name: "generated with its CA", manifest: func(t *testing.T) (string, []string) {
			path, trustFile, _ := generatedManifest(t, 6)
			return path, []string{"--trust", trustFile}
		}, want: want{devices: 6, attrs: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, flags := tt.manifest(t)
			out, stderr, code := runCLI(t, append(append([]string{"inspect", "-o", "json"}, flags...), path)...)
			if code != exitOK {
				t.Fatalf("inspect: exit %d\n%s", code, stderr)
			}
			recs := readJSONL(t, out)
			if len(recs) != tt.want.devices {
				t.Fatalf("inspect found %d devices, want %d", len(recs), tt.want.devices)
			}
			e := iottest.New(t, iotproxy.Config{StrictCreateThing: true, StrictAttributes: true})
			reportPath := filepath.Join(t.TempDir(), "report.jsonl")
			args := importArgs(e, append(flags, "--rate", "100", "--report", reportPath, path)...)
			thingType := iottest.ThingType
			if tt.want.noType {
				thingType = ""
				args = append([]string{"import", "--endpoint-url", e.Proxy.URL(), "--policy", iottest.Policy,
					"--thing-group", iottest.Group, "--progress", "none"}, append(flags, "--rate", "100", "--report", reportPath, path)...)
			}
			out, stderr, code = runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
			}
			lines, sum := readReport(t, reportPath)
			if len(lines) != tt.want.devices || sum.Imported != tt.want.devices || sum.Failed != 0 || sum.Skipped != 0 {
				t.Fatalf("%d report lines, summary %+v", len(lines), sum)
			}
			preflight := int64(3) // GetPolicy, DescribeThingType, DescribeThingGroup
			if tt.want.noType {
				preflight = 2
			}
			if c := e.Proxy.Total().Calls - preflight; c != int64(5*tt.want.devices) {
				t.Errorf("%d calls for %d devices, want 5 each (plus %d preflight): %v", c, tt.want.devices, preflight, e.Proxy.Counts())
			}
			s := botoState(t, e.Moto.URL, iottest.Group)
			if len(s.Things) != tt.want.devices || len(s.Group) != tt.want.devices || len(s.Certificates) != tt.want.devices {
				t.Fatalf("moto has %d things (%d in the group) and %d certificates, want %d", len(s.Things), len(s.Group), len(s.Certificates), tt.want.devices)
			}
			for arn, st := range s.Certificates {
				if st != "ACTIVE" {
					t.Errorf("certificate %s is %s", arn, st)
				}
			}
			for _, r := range recs {
				th, ok := s.Things[r.ThingName]
				switch {
				case !ok:
					t.Errorf("%s: no thing %s", r.Entry, r.ThingName)
					continue
				case th.Type != thingType || len(th.Principals) != 1 || len(th.Policies) != 1 || th.Policies[0] != iottest.Policy:
					t.Errorf("%s: thing %+v", r.ThingName, th)
				}
				if r.ChipID != "" && th.Attributes["chip_id"] != r.ChipID {
					t.Errorf("%s: chip_id %q, want %q", r.ThingName, th.Attributes["chip_id"], r.ChipID)
				}
				for _, a := range tt.want.attrs {
					if th.Attributes[a] == "" {
						t.Errorf("%s: no attribute %s in %v", r.ThingName, a, th.Attributes)
					}
				}
				if len(th.Attributes) != len(tt.want.attrs) {
					t.Errorf("%s: attributes %v, want %v", r.ThingName, th.Attributes, tt.want.attrs)
				}
			}
		})
	}
}

// TestImportGeneratedSampleExpired: the generated sample's certificates
// expired in 2025, so an import today skips all 100, each with its
// reason, and registers nothing.
func TestImportGeneratedSampleExpired(t *testing.T) {
	isolateAWS(t)
	path := sample(t, sampleGenerated)
	e := iottest.New(t, iotproxy.Config{})
	reportPath := filepath.Join(t.TempDir(), "report.jsonl")
	out, stderr, code := runCLI(t, importArgs(e, "--no-verify-chain", "--report", reportPath, path)...)
	if code != exitSomeDevices {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	lines, sum := readReport(t, reportPath)
	if len(lines) != 100 || sum.Skipped != 100 || sum.Imported != 0 {
		t.Fatalf("%d lines, summary %+v", len(lines), sum)
	}
	for _, l := range lines {
		if !strings.Contains(l.Error, "certificate expired on 2025-09-13") {
			t.Errorf("%s: %q", l.ThingName, l.Error)
		}
	}
	if n := e.Proxy.Counts()["RegisterCertificateWithoutCA"]; n != 0 {
		t.Errorf("%d registrations of expired certificates", n)
	}
}
