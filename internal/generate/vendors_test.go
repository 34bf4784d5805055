package generate_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/espressif"
	"github.com/thingpress/thingpress/internal/manifest/generated"
	"github.com/thingpress/thingpress/internal/manifest/microchip"
)

// readBack reads every record of a generated manifest with the real
// reader of its format.
func readBack(t *testing.T, path string, res *generate.Result, format string) []manifest.Record {
	t.Helper()
	var src manifest.Source
	var err error
	switch format {
	case generate.FormatMicrochip:
		signers, serr := microchip.NewSigners(res.Signer.Cert)
		if serr != nil {
			t.Fatal(serr)
		}
		src, err = microchip.Open(path, manifest.Options{}, signers)
	case generate.FormatEspressif:
		src, err = espressif.Open(path, manifest.Options{})
	case generate.FormatGenerated:
		src, err = generated.Open(path, manifest.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var recs []manifest.Record
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
}

func parseRecord(t *testing.T, r manifest.Record) *x509.Certificate {
	t.Helper()
	der := r.Data
	if r.Encoding == manifest.PEM {
		b, _ := pem.Decode(r.Data)
		if b == nil {
			t.Fatalf("%s: no PEM", r.Entry)
		}
		der = b.Bytes
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("%s: %v", r.Entry, err)
	}
	return c
}

func TestWriteVendors(t *testing.T) {
	// The reader's problem each case must cause; the cases without one
	// are for validation to find, and are checked on the certificate.
	problems := map[generate.BadCase]error{
		generate.BadTamperedPayload: microchip.ErrSignature,
		generate.BadUnknownSigner:   microchip.ErrUnknownSigner,
		generate.BadWrongCA:         microchip.ErrChain,
		generate.BadSignerTime:      microchip.ErrSignerTime,
		generate.BadHeaderUniqueID:  microchip.ErrUniqueID,
		generate.BadNoCertificate:   microchip.ErrNoCertificate,
		generate.BadMAC:             espressif.ErrMAC,
		generate.BadColumns:         espressif.ErrColumns,
		generate.BadBase64:          generated.ErrBase64,
	}
	const n = 1100 // more than two batches of work
	for _, format := range []string{generate.FormatMicrochip, generate.FormatEspressif, generate.FormatGenerated} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "manifest")
			res, err := generate.Write(path, generate.Options{N: n, Format: format, Bad: true})
			if err != nil {
				t.Fatal(err)
			}
			cases := generate.CasesFor(format)
			if len(res.Bad) != len(cases) || res.ChipIDs != n+len(cases) {
				t.Fatalf("%d chips, %d bad", res.ChipIDs, len(res.Bad))
			}
			if (res.Signer != nil) != (format == generate.FormatMicrochip) {
				t.Errorf("signer %v for %s", res.Signer, format)
			}
			recs := readBack(t, path, res, format)
			if len(recs) != n+len(cases) {
				t.Fatalf("read %d records, want %d", len(recs), n+len(cases))
			}
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(res.PKI.Root.Cert)
			inter.AddCert(res.PKI.Intermediate.Cert)
			verify := func(c *x509.Certificate) error {
				_, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
				return err
			}
			names, certs := map[string]bool{}, map[string]bool{}
			for i, r := range recs[:n] {
				if r.Problem != nil {
					t.Fatalf("good device %d (%s): %v", i, r.Entry, r.Problem)
				}
				c := parseRecord(t, r)
				if err := verify(c); err != nil {
					t.Fatalf("good device %d: %v", i, err)
				}
				name := r.ThingName
				if name == "" {
					name = c.Subject.CommonName
				}
				if names[name] || certs[string(c.Raw)] {
					t.Fatalf("good device %d: name %s or certificate twice", i, name)
				}
				names[name], certs[string(c.Raw)] = true, true
			}
			for k, r := range recs[n:] {
				c := cases[k]
				if res.Bad[k].Case != c {
					t.Errorf("bad device %d is %s, want %s", k, res.Bad[k].Case, c)
				}
				if want, ok := problems[c]; ok {
					if !errors.Is(r.Problem, want) {
						t.Errorf("%s (%s): problem %v, want %v", r.Entry, c, r.Problem, want)
					}
					continue
				}
				var ok bool
				switch c {
				case generate.BadPrivateKey:
					ok = r.Problem != nil || strings.Contains(string(r.Data), "PRIVATE KEY")
				case generate.BadNoPEM:
					ok = r.Problem != nil
				case generate.BadExpired:
					ok = parseRecord(t, r).NotAfter.Before(time.Now())
				case generate.BadUnknownCA:
					ok = verify(parseRecord(t, r)) != nil
				case generate.BadDuplicateCert:
					ok = certs[string(parseRecord(t, r).Raw)]
				case generate.BadDuplicateUID, generate.BadDuplicateMAC:
					ok = r.ThingName != "" && names[r.ThingName] && !certs[string(parseRecord(t, r).Raw)]
				}
				if !ok {
					t.Errorf("%s is not %s: %+v", r.Entry, c, r.Problem)
				}
			}
		})
	}
}

func TestWriteSeed(t *testing.T) {
	write := func(seed string) (*generate.Result, []manifest.Record) {
		path := filepath.Join(t.TempDir(), "m.json")
		res, err := generate.Write(path, generate.Options{N: 3, Format: generate.FormatMicrochip, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return res, readBack(t, path, res, generate.FormatMicrochip)
	}
	ids := func(recs []manifest.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.ChipID)
		}
		return out
	}
	a, ra := write("one")
	b, rb := write("one")
	c, rc := write("two")
	if a.ReelID != b.ReelID || a.BatchID != b.BatchID || !slices.Equal(ids(ra), ids(rb)) {
		t.Errorf("same seed, different IDs: %s %v, %s %v", a.ReelID, ids(ra), b.ReelID, ids(rb))
	}
	if a.ReelID == c.ReelID || slices.Equal(ids(ra), ids(rc)) {
		t.Errorf("other seed, same IDs: %s %v", c.ReelID, ids(rc))
	}
}

func TestCycle(t *testing.T) {
	all := generate.CasesFor(generate.FormatEspressif)
	got := generate.Cycle(generate.FormatEspressif, len(all)+2)
	if len(got) != len(all)+2 || !slices.Equal(got[:len(all)], all) || got[len(all)] != all[0] || got[len(all)+1] != all[1] {
		t.Errorf("Cycle = %v", got)
	}
	if generate.Cycle("nxp", 3) != nil || generate.CasesFor("nxp") != nil {
		t.Error("cases for an unknown format")
	}
}

func TestWriteRefusesOtherFormatsCases(t *testing.T) {
	_, err := generate.Write(filepath.Join(t.TempDir(), "m.csv"), generate.Options{
		N: 1, Format: generate.FormatEspressif, Bad: true, Cases: []generate.BadCase{generate.BadTamperedPayload}})
	if !errors.Is(err, generate.ErrCase) {
		t.Errorf("error %v, want ErrCase", err)
	}
}
