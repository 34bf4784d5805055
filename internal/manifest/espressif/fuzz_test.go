package espressif

import (
	"bytes"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// FuzzReader feeds arbitrary bytes to the reader and checks that it never
// panics or loops, that every error is a *manifest.Error of a known kind,
// and that records keep the limits and name a valid MAC when they have
// no Problem.
func FuzzReader(f *testing.F) {
	p := testPEM(f)
	f.Add([]byte(csvDoc("MAC,cn,cert", `4BA2BB8764BD,cn,"`+p+`"`)))
	f.Add([]byte(csvDoc("MAC,cn,cert", `4BA2BB8764BD,cn`, `x,y,z`, `"a""b",,`)))
	f.Add([]byte("cert,cn,MAC\n\"-----BEGIN X-----\n-----END X-----\",,aabbccddeeff\n"))
	f.Add([]byte(""))
	manifesttest.AddSample(f, "manifest-espressif.csv", 0)
	limits := manifest.Limits{MaxEntryBytes: 4 << 10, MaxEntries: 50, MaxTotalBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, doc []byte) {
		r := NewReader(bytes.NewReader(doc), "test.csv", manifest.Options{Limits: limits})
		defer r.Close()
		kinds := []error{manifest.ErrMalformed, manifest.ErrFormat, manifest.ErrTooLarge}
		manifesttest.Drain(t, r.NextDevice, "test.csv", limits.MaxEntries, kinds, func(d Device) {
			if int64(len(d.Data)) > limits.MaxEntryBytes {
				t.Fatalf("%s: %d bytes of Data", d.Entry, len(d.Data))
			}
			if d.Problem == nil && (!validMAC(d.ThingName) || len(d.Data) == 0) {
				t.Fatalf("%s: no Problem but thing %q, %d bytes", d.Entry, d.ThingName, len(d.Data))
			}
		})
	})
}
