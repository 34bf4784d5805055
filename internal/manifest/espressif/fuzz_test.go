package espressif

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
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
	if b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "fixtures", "thingpress-artifacts", "manifest-espressif.csv")); err == nil {
		f.Add(b)
	}
	limits := manifest.Limits{MaxEntryBytes: 4 << 10, MaxEntries: 50, MaxTotalBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, doc []byte) {
		r := NewReader(bytes.NewReader(doc), "test.csv", manifest.Options{Limits: limits})
		defer r.Close()
		for n := 0; ; n++ {
			d, err := r.NextDevice()
			if err == io.EOF {
				return
			}
			if err != nil {
				var me *manifest.Error
				if !errors.As(err, &me) || me.File != "test.csv" {
					t.Fatalf("error %v (%T) is not a *manifest.Error naming the file", err, err)
				}
				if !errors.Is(err, manifest.ErrMalformed) && !errors.Is(err, manifest.ErrFormat) && !errors.Is(err, manifest.ErrTooLarge) {
					t.Fatalf("error of an unknown kind: %v", err)
				}
				return
			}
			if n >= limits.MaxEntries {
				t.Fatalf("more than %d rows", limits.MaxEntries)
			}
			if int64(len(d.Data)) > limits.MaxEntryBytes {
				t.Fatalf("%s: %d bytes of Data", d.Entry, len(d.Data))
			}
			if d.Problem == nil && (!validMAC(d.ThingName) || len(d.Data) == 0) {
				t.Fatalf("%s: no Problem but thing %q, %d bytes", d.Entry, d.ThingName, len(d.Data))
			}
		}
	})
}
