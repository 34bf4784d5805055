package generated

import (
	"bytes"
	"encoding/pem"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// FuzzReader feeds arbitrary bytes to the reader and checks that it never
// panics or loops, that every error is a *manifest.Error of a known kind,
// and that a record without a Problem holds exactly one CERTIFICATE block
// within the limit and no private key.
func FuzzReader(f *testing.F) {
	c := newTestChain(f)
	f.Add([]byte(b64(lfPEM(c.leaf)) + "\n"))
	f.Add([]byte(b64(lfPEM(c.leaf)+lfPEM(c.inter)) + "\r\n\n" + b64("-----BEGIN A-----\n-----END A-----\n")))
	f.Add([]byte(b64(lfPEM(c.leaf)+string(c.key)) + "\n!!\n"))
	f.Add([]byte(""))
	manifesttest.AddSample(f, "certificates_test.txt", 8<<10)
	limits := manifest.Limits{MaxEntryBytes: 2 << 10, MaxEntries: 50, MaxTotalBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, doc []byte) {
		r := NewReader(bytes.NewReader(doc), "test.txt", manifest.Options{Limits: limits})
		defer r.Close()
		manifesttest.Drain(t, r.NextDevice, "test.txt", limits.MaxEntries, []error{manifest.ErrTooLarge}, func(d Device) {
			if d.Problem != nil {
				if d.Data != nil || d.Chain != nil {
					t.Fatalf("%s: Problem %v with Data or Chain", d.Entry, d.Problem)
				}
				return
			}
			if int64(len(d.Data)) > limits.MaxEntryBytes || bytes.Contains(d.Data, []byte("PRIVATE KEY")) {
				t.Fatalf("%s: %d bytes of Data", d.Entry, len(d.Data))
			}
			b, rest := pem.Decode(d.Data)
			if b == nil || b.Type != "CERTIFICATE" || len(rest) != 0 {
				t.Fatalf("%s: Data is not one CERTIFICATE block", d.Entry)
			}
		})
	})
}
