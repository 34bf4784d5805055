package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/inspect"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

var update = flag.Bool("update", false, "rewrite golden files")

func Example_inspect() {
	run(context.Background(), []string{"inspect", "--cert-type", "E0E2", "testdata/mini-reel.7z"}, os.Stdout, os.Stdout)
	// Output:
	// Manifest  testdata/mini-reel.7z (infineon, slot E0E2)
	// Vendor    Infineon
	// Reel      78211223032C7EFA
	// Batch     b41425b9-b42b-47fd-95c2-f981b4c61561
	// Chain     verified against Infineon OPTIGA(TM) ECC Root CA 2, Infineon OPTIGA(TM) RSA Root CA 2, Infineon OPTIGA(TM) Trust M CA 300, Infineon OPTIGA(TM) Trust M CA 306, Infineon OPTIGA(TM) Trust M CA 309
	// Issuers   Infineon OPTIGA(TM) Trust M CA 309 (4)
	// Devices   4: 4 ok, 0 invalid
	// Validity  2023-05-31T08:38:22Z to 2043-06-01T09:12:35Z
}

func TestInspectGoldenJSON(t *testing.T) {
	for _, slot := range []string{"E0E0", "E0E1", "E0E2"} {
		t.Run(slot, func(t *testing.T) {
			out, stderr, code := runCLI(t, "inspect", "--output", "json", "--cert-type", slot, "testdata/mini-reel.7z")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkGolden(t, filepath.Join("testdata", "mini-reel-"+slot+".jsonl.golden"), out)
			// The slot is taken in any letter case.
			lower, stderr, code := runCLI(t, "inspect", "--output", "json", "--cert-type", strings.ToLower(slot), "testdata/mini-reel.7z")
			if code != exitOK || lower != out {
				t.Errorf("--cert-type %s: exit %d, output differs from --cert-type %s: %s", strings.ToLower(slot), code, slot, stderr)
			}
		})
	}
}

// readJSONL parses inspect's JSON Lines output.
func readJSONL(t *testing.T, out string) []inspect.Line {
	t.Helper()
	var recs []inspect.Line
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r inspect.Line
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestInspectRealSample checks the real Infineon bundle: 200 devices per
// slot, each certificate ID the SHA-256 of the DER that openssl makes of
// the PEM file.
func TestInspectRealSample(t *testing.T) {
	bundle := sharedFixture(t, "infineon/manifest-infineon.7z")
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed to cross-check certificate IDs: %v", err)
	}
	testbundle.Require7z(t)
	dir := t.TempDir()
	if out, err := exec.Command("7z", "x", "-y", "-o"+dir, bundle, "-x!*_keys.7z").CombinedOutput(); err != nil {
		t.Fatalf("7z: %v\n%s", err, out)
	}
	tests := []struct {
		slot   string
		issuer string
	}{
		{slot: "E0E0", issuer: "Infineon OPTIGA(TM) Trust M CA 306"},
		{slot: "E0E1", issuer: "Infineon OPTIGA(TM) Trust M CA 306"},
		{slot: "E0E2", issuer: "Infineon OPTIGA(TM) Trust M CA 309"},
	}
	for _, tt := range tests {
		t.Run(tt.slot, func(t *testing.T) {
			inner, _ := filepath.Glob(filepath.Join(dir, "*_"+tt.slot+"_Certs.7z"))
			pems := filepath.Join(dir, tt.slot)
			if out, err := exec.Command("7z", "x", "-y", "-o"+pems, inner[0]).CombinedOutput(); err != nil {
				t.Fatalf("7z: %v\n%s", err, out)
			}
			out, stderr, code := runCLI(t, "inspect", "--output", "json", "--cert-type", tt.slot, bundle)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			recs := readJSONL(t, out)
			if len(recs) != 200 {
				t.Fatalf("%d devices, want 200", len(recs))
			}
			ders := opensslDER(t, pems, recs, tt.slot)
			for i, r := range recs {
				if r.Status != "ok" || !strings.Contains(r.Issuer, tt.issuer) || r.Slot != tt.slot {
					t.Errorf("%s: status %s issuer %s slot %s (%s)", r.ChipID, r.Status, r.Issuer, r.Slot, r.Error)
				}
				sum := sha256.Sum256(ders[i])
				if want := hex.EncodeToString(sum[:]); r.CertificateID != want {
					t.Errorf("%s: certificate_id %s, openssl's DER hashes to %s", r.ChipID, r.CertificateID, want)
				}
			}
		})
	}
}

// opensslDER has openssl re-encode the certificate of each record, read
// from dir/<chipID>_<slot>.pem, in one run: storeutl lists the
// certificates of one file in order.
func opensslDER(t *testing.T, dir string, recs []inspect.Line, slot string) [][]byte {
	t.Helper()
	var all []byte
	for _, r := range recs {
		b, err := os.ReadFile(filepath.Join(dir, r.ChipID+"_"+slot+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, b...), '\n')
	}
	p := filepath.Join(t.TempDir(), "all.pem")
	if err := os.WriteFile(p, all, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "storeutl", "-certs", p).Output()
	if err != nil {
		t.Fatalf("openssl storeutl: %v", err)
	}
	var ders [][]byte
	for b, rest := pem.Decode(out); b != nil; b, rest = pem.Decode(rest) {
		ders = append(ders, b.Bytes)
	}
	if len(ders) != len(recs) {
		t.Fatalf("openssl found %d certificates in %d files", len(ders), len(recs))
	}
	return ders
}

// reasons says what inspect must report for each generated bad case; an
// entry of xmlReasons replaces it for the XML form.
var reasons = map[generate.BadCase]string{
	generate.BadTwoCerts:            "more than one certificate in entry: 2 certificates",
	generate.BadPrivateKey:          "PRIVATE KEY MATERIAL in entry",
	generate.BadExpired:             "certificate expired on",
	generate.BadNotYetValid:         "certificate not yet valid until",
	generate.BadUnknownCA:           `certificate does not chain to a trusted CA: unknown issuer "CN=thingpress unknown CA,O=thingpress test,C=DE"`,
	generate.BadNoCN:                "subject has no CN",
	generate.BadCNSpace:             "not a valid AWS IoT thing name",
	generate.BadCNTooLong:           "not a valid AWS IoT thing name",
	generate.BadDuplicateCert:       "duplicate certificate: same certificate as entry #1",
	generate.BadDuplicateName:       "duplicate thing name",
	generate.BadCACertificate:       "certificate is a CA certificate (BasicConstraints CA:TRUE), not a device certificate",
	generate.BadKeyCertSignOnly:     "key usage does not allow digitalSignature (TLS client authentication): keyCertSign",
	generate.BadCodeSigningEKU:      "extended key usage does not allow TLS client authentication: codeSigning",
	generate.BadTwoCNs:              "subject has more than one CN: 2",
	generate.BadEd25519Key:          "key type is not one AWS IoT accepts (RSA of at least 2048 bits, ECDSA on P-256, P-384 or P-521): Ed25519",
	generate.BadRSA1024Key:          "key is too weak for AWS IoT: RSA key of 1024 bits (at least 2048)",
	generate.BadSHA1Signature:       "signature algorithm is not one AWS IoT accepts: ECDSA-SHA1",
	generate.BadExpiredIntermediate: `issuing CA is outside its validity period: "thingpress test expired CA" expired on`,
	generate.BadNonCAIntermediate:   `issuer is not a CA: "thingpress test non-CA issuer" has no BasicConstraints CA:TRUE`,
	generate.BadChipIDTooLong:       "chip ID is not an Infineon chip ID (20 hexadecimal characters)",
	generate.BadChipID:              "chip ID is not an Infineon chip ID (20 hexadecimal characters)",
	generate.BadDuplicateChipID:     "duplicate chip ID with another certificate: chip ",
	generate.BadKeyLowerCase:        "PRIVATE KEY MATERIAL in entry",
	generate.BadKeyPKCS8:            "PRIVATE KEY MATERIAL in entry",
	generate.BadKeyRSA:              "PRIVATE KEY MATERIAL in entry",
	generate.BadKeyEncrypted:        "PRIVATE KEY MATERIAL in entry",
	generate.BadKeyBase64:           "PRIVATE KEY MATERIAL in entry",
	generate.BadKeyDER:              "PRIVATE KEY MATERIAL in entry",
	generate.BadKeyElsewhere:        "PRIVATE KEY MATERIAL in entry",
	generate.BadKeyAttribute:        "PRIVATE KEY MATERIAL in entry",
}

var xmlReasons = map[generate.BadCase]string{
	generate.BadChipIDTooLong: "value is not a valid AWS IoT thing attribute: chip_id of 5000 characters (at most 800)",
	generate.BadChipID:        `chip ID is not an Infineon chip ID (20 hexadecimal characters): "../../etc/passwd"`,
}

// reasonFor returns what inspect must report for case c in format.
func reasonFor(c generate.BadCase, format string) string {
	if r, ok := xmlReasons[c]; ok && format == generate.FormatXML {
		return r
	}
	return reasons[c]
}

// writeTestManifest writes a manifest with good and bad devices and its trust file.
func writeTestManifest(t *testing.T, format string, n int, bad bool) (path, trustFile string, res *generate.Result) {
	t.Helper()
	if format == generate.FormatInfineon {
		testbundle.Require7z(t)
	}
	dir := t.TempDir()
	ext := map[string]string{generate.FormatInfineon: ".7z", generate.FormatXML: ".xml"}[format]
	res, err := generate.Write(filepath.Join(dir, "reel"+ext), generate.Options{N: n, Format: format, Bad: bad, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	trustFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(trustFile, res.PKI.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return res.Path, trustFile, res
}

func TestInspectBadDevices(t *testing.T) {
	for _, format := range []string{generate.FormatInfineon, generate.FormatXML} {
		t.Run(format, func(t *testing.T) {
			path, trustFile, res := writeTestManifest(t, format, 5, true)
			badBy := map[string]generate.BadCase{}
			for _, b := range res.Bad {
				if b.Case != generate.BadDuplicateChipID {
					badBy[b.ChipID] = b.Case
				}
			}
			seen := map[string]bool{}
			out, stderr, code := runCLI(t, "inspect", "--trust", trustFile, "--output", "json", path)
			if code != exitSomeDevices {
				t.Fatalf("exit %d, want %d: %s", code, exitSomeDevices, stderr)
			}
			recs := readJSONL(t, out)
			if len(recs) != 5+len(generate.BadCases) {
				t.Fatalf("%d devices, want %d", len(recs), 5+len(generate.BadCases))
			}
			for _, r := range recs {
				c, isBad := badBy[r.ChipID]
				if seen[r.ChipID] {
					// The chip seen again: the duplicate chip ID.
					c, isBad = generate.BadDuplicateChipID, true
				}
				seen[r.ChipID] = true
				switch {
				case !isBad && r.Status != "ok":
					t.Errorf("good %s: %s %s", r.ChipID, r.Status, r.Error)
				case isBad && (r.Status != "invalid" || !strings.Contains(r.Error, reasonFor(c, format))):
					t.Errorf("bad %s (%s): status %s, error %q, want %q", r.ChipID, c, r.Status, r.Error, reasonFor(c, format))
				}
			}
			if strings.Contains(out, "PRIVATE KEY-----") || strings.Contains(strings.ToLower(out), "private key-----") {
				t.Errorf("output carries key material")
			}

			table, _, code := runCLI(t, "inspect", "--trust", trustFile, path)
			if code != exitSomeDevices {
				t.Fatalf("table: exit %d", code)
			}
			// The table lists the first invalid devices and counts the
			// rest; the JSON output above has them all.
			listed := 0
			for chip := range badBy {
				if strings.Contains(table, chip[:min(len(chip), 40)]) {
					listed++
				}
			}
			if want := min(len(badBy), inspect.DefaultMaxListed-1); listed < want {
				t.Errorf("table lists %d of the invalid devices, want at least %d:\n%s", listed, want, table)
			}
			if rest := len(res.Bad) - inspect.DefaultMaxListed; rest > 0 && !strings.Contains(table, fmt.Sprintf("... and %d more invalid devices", rest)) {
				t.Errorf("table does not count the %d invalid devices it does not list:\n%s", rest, table)
			}
			devices := fmt.Sprintf("Devices   %d: 5 ok, %d invalid", 5+len(res.Bad), len(res.Bad))
			for _, want := range []string{devices, "WARNING", "PRIVATE KEY", "Invalid devices:"} {
				if !strings.Contains(table, want) {
					t.Errorf("table lacks %q:\n%s", want, table)
				}
			}
		})
	}
}

func TestInspectNoVerifyChain(t *testing.T) {
	path, _, _ := writeTestManifest(t, generate.FormatXML, 3, false)
	out, stderr, code := runCLI(t, "inspect", path)
	if code != exitSomeDevices || !strings.Contains(out, "does not chain") {
		t.Fatalf("with the Infineon anchors a test CA must not verify: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = runCLI(t, "inspect", "--no-verify-chain", path)
	if code != exitOK || !strings.Contains(out, "NOT VERIFIED") {
		t.Fatalf("exit %d, output must say the chain was not verified:\n%s%s", code, out, stderr)
	}
}

func TestInspectUnusable(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.bin")
	if err := os.WriteFile(garbage, []byte("this is no manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.7z")
	data, err := os.ReadFile("testdata/mini-reel.7z")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.7z")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badXML := filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(badXML, []byte(`<CertificateManifest><Device chipId="A"><Certificate>`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "missing file", args: []string{"inspect", filepath.Join(dir, "nope.7z")}, wantErr: "nope.7z"},
		{name: "garbage", args: []string{"inspect", garbage}, wantErr: "garbage.bin: unknown manifest format"},
		{name: "truncated 7z", args: []string{"inspect", truncated}, wantErr: "truncated.7z"},
		{name: "malformed XML", args: []string{"inspect", badXML}, wantErr: "bad.xml"},
		{name: "forced wrong format", args: []string{"inspect", "--format", "xml", "testdata/mini-reel.7z"}, wantErr: "mini-reel.7z: unknown manifest format: the file is a 7z archive, which the xml reader does not read"},
		{name: "empty file", args: []string{"inspect", empty}, wantErr: "empty.7z: unknown manifest format: the file is empty"},
		{name: "empty file, vendor forced", args: []string{"inspect", "--vendor", "infineon", empty}, wantErr: "empty.7z: unknown manifest format: the file is empty"},
		{name: "bad slot", args: []string{"inspect", "--cert-type", "E0E9", "testdata/mini-reel.7z"}, wantErr: "--cert-type"},
		{name: "bad format flag", args: []string{"inspect", "--format", "csv", "testdata/mini-reel.7z"}, wantErr: "--format"},
		{name: "bad output", args: []string{"inspect", "--output", "yaml", "testdata/mini-reel.7z"}, wantErr: "yaml"},
		{name: "trust and no-verify", args: []string{"inspect", "--trust", garbage, "--no-verify-chain", "testdata/mini-reel.7z"}, wantErr: "exclude each other"},
		{name: "bad trust file", args: []string{"inspect", "--trust", garbage, "testdata/mini-reel.7z"}, wantErr: "garbage.bin"},
		{name: "no manifest", args: []string{"inspect"}, wantErr: "exactly one MANIFEST"},
		{name: "unknown flag", args: []string{"inspect", "--frobnicate", "x"}, wantErr: "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.args...)
			if code != exitFatal {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitFatal, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("stderr %q: want one line containing %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestInspectMissingSlot(t *testing.T) {
	testbundle.Require7z(t)
	dir := t.TempDir()
	res, err := generate.Write(filepath.Join(dir, "reel.7z"), generate.Options{N: 2, Slots: []string{"E0E0", "E0E2"}, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "inspect", "--no-verify-chain", "--cert-type", "E0E1", res.Path)
	if code != exitFatal || !strings.Contains(stderr, "E0E0") || !strings.Contains(stderr, "E0E2") {
		t.Fatalf("exit %d, stderr %q: want exit 2 naming the slots present", code, stderr)
	}
}
