package microchip

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// writeMixed writes testdata/mixed.json, entries good and bad signed by
// a new test signer, and that signer's certificate as testdata/signer.crt.
func writeMixed(t *testing.T) {
	t.Helper()
	signer := newTestSigner(t, "Manifest Signer golden", nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	impostor := newTestSigner(t, "Manifest Signer golden", signer.cert.SubjectKeyId, signer.cert.NotBefore, signer.cert.NotAfter)
	pki, strange := newDevicePKI(t), newDevicePKI(t)
	var entries []string
	add := func(e jwsEntry) { entries = append(entries, e.json(t)) }

	add(signer.signed(t, signer.header(), pki.payload("0123000000000000a1")))
	tampered := signer.signed(t, signer.header(), pki.payload("0123000000000000a2"))
	tampered.Payload = b64json(t, pki.payload("0123000000000000a9"))
	add(tampered)
	add(impostor.signed(t, signer.header(), pki.payload("0123000000000000a3")))
	relabelled := signer.signed(t, signer.header(), pki.payload("0123000000000000a4"))
	relabelled.Header.UniqueID = "0123000000000000ff"
	add(relabelled)
	v2 := pki.payload("0123000000000000a5")
	v2["version"] = 2
	delete(v2, "publicKeySet")
	add(signer.signed(t, signer.header(), v2))
	wrongCA := pki.payload("0123000000000000a6")
	wrongCA["publicKeySet"].(map[string]any)["keys"].([]any)[0].(map[string]any)["x5c"] = []string{pki.x5c[0], strange.x5c[1]}
	add(signer.signed(t, signer.header(), wrongCA))
	add(signer.signed(t, signer.header(), pki.payload("0123000000000000A7")))

	doc := "[\n  " + strings.Join(entries, ",\n  ") + "\n]\n"
	if err := os.WriteFile(filepath.Join("testdata", "mixed.json"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: signer.cert.Raw})
	if err := os.WriteFile(filepath.Join("testdata", "signer.crt"), crt, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGolden reads testdata/mixed.json with its test signer and compares
// what each entry yields with testdata/mixed.golden. Run with -update to
// make new entries and rewrite both.
func TestGolden(t *testing.T) {
	if manifesttest.Update() {
		writeMixed(t)
	}
	crt, err := os.ReadFile(filepath.Join("testdata", "signer.crt"))
	if err != nil {
		t.Fatal(err)
	}
	signers := &Signers{}
	if err := signers.AddPEM(crt); err != nil {
		t.Fatal(err)
	}
	r, err := Open(filepath.Join("testdata", "mixed.json"), manifest.Options{}, signers)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := manifesttest.Lines(t, r.NextDevice, func(d Device) string {
		return fmt.Sprintf("%s chip=%s thing=%s data=%t: %s", d.Entry, d.ChipID, d.ThingName, d.Data != nil, manifesttest.Outcome(d.Problem))
	})
	manifesttest.Golden(t, filepath.Join("testdata", "mixed.golden"), got)
}
