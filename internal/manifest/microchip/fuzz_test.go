package microchip

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// FuzzReader feeds arbitrary bytes to the reader and checks that it never
// panics or loops, that every error is a *manifest.Error of a known kind,
// and that records keep the limits and verify only when signed.
func FuzzReader(f *testing.F) {
	now := time.Now()
	signer := newTestSigner(f, "Manifest Signer test", nil, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
	pki := newDevicePKI(f)
	good := signer.signed(f, signer.header(), pki.payload(uid)).json(f)
	f.Add([]byte("[" + good + "]"))
	f.Add([]byte("[" + good + "," + good + "]"))
	f.Add([]byte(`[{"protected":"e30","payload":"e30","signature":"","header":{"uniqueId":"01"}}]`))
	f.Add([]byte("[" + strings.Repeat("[", 100) + "]"))
	f.Add([]byte(`[1, "x", null, {}]`))
	f.Add([]byte(`{}`))
	if b, err := os.ReadFile(filepath.Join("testdata", "mixed.json")); err == nil {
		f.Add(b)
	}
	for _, name := range []string{"ECC608C-TNGTLSU-B.json", "ECC608-TMNGTLSS-B.json"} {
		manifesttest.AddSample(f, name, 0)
	}
	signers := signer.signers(f)
	limits := manifest.Limits{MaxEntryBytes: 8 << 10, MaxEntries: 50, MaxTotalBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, doc []byte) {
		r := NewReader(bytes.NewReader(doc), "test.json", manifest.Options{Limits: limits}, signers)
		defer r.Close()
		kinds := []error{manifest.ErrMalformed, manifest.ErrFormat, manifest.ErrTooLarge}
		manifesttest.Drain(t, r.NextDevice, "test.json", limits.MaxEntries, kinds, func(d Device) {
			if int64(len(d.Data)) > limits.MaxEntryBytes {
				t.Fatalf("%s: %d bytes of Data", d.Entry, len(d.Data))
			}
			if d.Problem == nil && (d.Signer == nil || d.ThingName == "" || len(d.Data) == 0) {
				t.Fatalf("%s: no Problem but signer %v, thing %q, %d bytes", d.Entry, d.Signer, d.ThingName, len(d.Data))
			}
			if d.Problem != nil && d.Data != nil {
				t.Fatalf("%s: Problem %v with Data", d.Entry, d.Problem)
			}
		})
	})
}
