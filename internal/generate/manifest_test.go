package generate_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/infineon"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

var chipIDRE = regexp.MustCompile(`^[0-9A-F]{20}$`)

// entry is one chip's certificate text in one slot, as a reader sees it.
type entry struct {
	chipID string
	certs  []*x509.Certificate
	other  []string // PEM block types other than CERTIFICATE
	raw    []byte   // the entry as read
	der    bool     // raw is DER
	// keyElsewhere is set for an XML Device with a key outside its
	// certificates.
	keyElsewhere bool
}

func parseEntry(t *testing.T, chipID string, data []byte, der bool) entry {
	t.Helper()
	e := entry{chipID: chipID, raw: data, der: der}
	if der {
		var first asn1.RawValue
		if _, err := asn1.Unmarshal(data, &first); err != nil {
			t.Fatalf("chip %s: %v", chipID, err)
		}
		c, err := x509.ParseCertificate(first.FullBytes)
		if err != nil {
			t.Fatalf("chip %s: %v", chipID, err)
		}
		e.certs = append(e.certs, c)
		return e
	}
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			e.other = append(e.other, blk.Type)
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("chip %s: %v", chipID, err)
		}
		e.certs = append(e.certs, c)
	}
	return e
}

// checkEntries checks the good chips verify and each bad chip is bad the
// way the result says.
func checkEntries(t *testing.T, res *generate.Result, slot string, entries []entry) {
	t.Helper()
	if len(entries) != res.ChipIDs {
		t.Fatalf("slot %s: %d entries, want %d", slot, len(entries), res.ChipIDs)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(res.PKI.Root.Cert)
	inters.AddCert(res.PKI.Intermediate.Cert)
	verify := func(c *x509.Certificate) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	bad := map[string]generate.BadCase{}
	for _, b := range res.Bad {
		if b.Case != generate.BadDuplicateChipID {
			bad[b.ChipID] = b.Case
		}
	}
	seen := map[string]bool{}
	first := entries[0]
	for _, e := range entries {
		c, isBad := bad[e.chipID]
		if seen[e.chipID] && e.chipID == first.chipID {
			c, isBad = generate.BadDuplicateChipID, true
		}
		if (!chipIDRE.MatchString(e.chipID) || seen[e.chipID]) && c != generate.BadChipID && c != generate.BadChipIDTooLong && c != generate.BadDuplicateChipID {
			t.Errorf("chip ID %q bad or repeated", e.chipID)
		}
		seen[e.chipID] = true
		if !isBad {
			if len(e.certs) != 1 || len(e.other) != 0 {
				t.Fatalf("good chip %s: %d certificates, other blocks %v", e.chipID, len(e.certs), e.other)
			}
			cert := e.certs[0]
			if err := verify(cert); err != nil {
				t.Fatalf("good chip %s: %v", e.chipID, err)
			}
			if want := generate.CommonName(res.ReelID, e.chipID, slot); cert.Subject.CommonName != want {
				t.Errorf("chip %s CN %q, want %q", e.chipID, cert.Subject.CommonName, want)
			}
			continue
		}
		cert := e.certs[0]
		var ok bool
		switch c {
		case generate.BadTwoCerts:
			ok = len(e.certs) == 2
		case generate.BadPrivateKey:
			ok = len(e.other) == 1 && strings.Contains(e.other[0], "PRIVATE KEY")
		case generate.BadExpired:
			ok = cert.NotAfter.Before(time.Now())
		case generate.BadNotYetValid:
			ok = cert.NotBefore.After(time.Now())
		case generate.BadUnknownCA:
			ok = verify(cert) != nil && cert.NotAfter.After(time.Now())
		case generate.BadNoCN:
			ok = cert.Subject.CommonName == ""
		case generate.BadCNSpace:
			ok = strings.Contains(cert.Subject.CommonName, " ")
		case generate.BadCNTooLong:
			ok = len(cert.Subject.CommonName) > 128
		case generate.BadDuplicateCert:
			ok = bytes.Equal(cert.Raw, first.certs[0].Raw)
		case generate.BadDuplicateName:
			ok = cert.Subject.CommonName == first.certs[0].Subject.CommonName && !bytes.Equal(cert.Raw, first.certs[0].Raw)
		case generate.BadCACertificate:
			ok = cert.IsCA
		case generate.BadKeyCertSignOnly:
			ok = cert.KeyUsage == x509.KeyUsageCertSign
		case generate.BadCodeSigningEKU:
			ok = slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning})
		case generate.BadTwoCNs:
			n := 0
			for _, a := range cert.Subject.Names {
				if a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 3}) {
					n++
				}
			}
			ok = n == 2
		case generate.BadEd25519Key:
			ok = cert.PublicKeyAlgorithm == x509.Ed25519
		case generate.BadRSA1024Key:
			k, isRSA := cert.PublicKey.(*rsa.PublicKey)
			ok = isRSA && k.N.BitLen() == 1024
		case generate.BadSHA1Signature:
			ok = cert.SignatureAlgorithm == x509.ECDSAWithSHA1
		case generate.BadExpiredIntermediate:
			ok = cert.CheckSignatureFrom(res.PKI.Expired.Cert) == nil && res.PKI.Expired.Cert.NotAfter.Before(time.Now())
		case generate.BadNonCAIntermediate:
			ok = res.PKI.NotCA.Cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil && !res.PKI.NotCA.Cert.IsCA
		case generate.BadChipIDTooLong:
			ok = len(e.chipID) == 5000 || len(e.chipID) == 64
		case generate.BadChipID:
			ok = e.chipID == "../../etc/passwd" || len(e.chipID) == 19
		case generate.BadDuplicateChipID:
			ok = !bytes.Equal(cert.Raw, first.certs[0].Raw) && cert.Subject.CommonName != first.certs[0].Subject.CommonName
		case generate.BadKeyLowerCase, generate.BadKeyPKCS8, generate.BadKeyRSA, generate.BadKeyEncrypted,
			generate.BadKeyBase64, generate.BadKeyDER, generate.BadKeyElsewhere, generate.BadKeyAttribute:
			if e.der {
				ok = manifest.DERHasPrivateKey(e.raw)
			} else {
				ok = e.keyElsewhere || manifest.HasPrivateKey(bytes.Clone(e.raw))
			}
		}
		if !ok {
			t.Errorf("slot %s chip %s is not %s", slot, e.chipID, c)
		}
		if !slices.Contains([]generate.BadCase{generate.BadUnknownCA, generate.BadExpired, generate.BadNotYetValid,
			generate.BadSHA1Signature, generate.BadExpiredIntermediate, generate.BadNonCAIntermediate}, c) {
			if err := verify(cert); err != nil {
				t.Errorf("chip %s (%s) should chain to the test CA: %v", e.chipID, c, err)
			}
		}
	}
}

func TestGenerateInfineon(t *testing.T) {
	testbundle.Require7z(t)
	tests := []struct {
		name  string
		n     int
		slots []string
		bad   bool
	}{
		{name: "all slots with bad devices", n: 25, bad: true},
		{name: "one slot", n: 3, slots: []string{"E0E1"}},
		{name: "more than one batch of work", n: 1100, slots: []string{"E0E0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reel.7z")
			res, err := generate.Write(path, generate.Options{N: tc.n, Slots: tc.slots, Bad: tc.bad, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			wantBad := 0
			if tc.bad {
				wantBad = len(generate.BadCases)
			}
			if len(res.Bad) != wantBad || res.ChipIDs != tc.n+wantBad {
				t.Fatalf("%d chips, %d bad", res.ChipIDs, len(res.Bad))
			}
			for _, slot := range manifest.Slots {
				r, err := infineon.Open(t.Context(), path, manifest.Options{Slot: slot, TempDir: t.TempDir()})
				if !slices.Contains(res.Slots, slot) {
					if !errors.Is(err, manifest.ErrSlotMissing) {
						t.Errorf("slot %s, not in %v: %v, want ErrSlotMissing", slot, res.Slots, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				var entries []entry
				for {
					rec, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if rec.ReelID != res.ReelID || rec.BatchID != res.BatchID {
						t.Errorf("chip %s: reel %s batch %s, want %s %s", rec.ChipID, rec.ReelID, rec.BatchID, res.ReelID, res.BatchID)
					}
					if !bytes.Contains(rec.Data, []byte("\r\n")) {
						t.Errorf("chip %s: PEM without CRLF", rec.ChipID)
					}
					entries = append(entries, parseEntry(t, rec.ChipID, rec.Data, false))
				}
				r.Close()
				// Chip IDs sort in device order, so 7z, which sorts by name,
				// keeps chip 0 first, as checkEntries wants.
				checkEntries(t, res, slot, entries)
			}
		})
	}
}

func TestGenerateXML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reel.xml")
	res, err := generate.Write(path, generate.Options{N: 600, Format: generate.FormatXML, Bad: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc struct {
		ReelID  string `xml:"reelId,attr"`
		BatchID string `xml:"batchId,attr"`
		Chains  []struct {
			Slot string `xml:"slot,attr"`
			Text string `xml:",chardata"`
		} `xml:"CertificateChain"`
		Devices []struct {
			ChipID     string `xml:"chipId,attr"`
			Key        string `xml:"key,attr"`
			PrivateKey string `xml:"PrivateKey"`
			Certs      []struct {
				Slot     string `xml:"slot,attr"`
				Encoding string `xml:"encoding,attr"`
				Text     string `xml:",chardata"`
			} `xml:"Certificate"`
		} `xml:"Device"`
	}
	if err := xml.NewDecoder(f).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.ReelID != res.ReelID || doc.BatchID != res.BatchID || len(doc.Chains) != 3 {
		t.Errorf("reel %s batch %s chains %d", doc.ReelID, doc.BatchID, len(doc.Chains))
	}
	for i, slot := range manifest.Slots {
		var entries []entry
		for _, d := range doc.Devices {
			c := d.Certs[i]
			if c.Slot != slot {
				t.Fatalf("chip %s: certificate %d has slot %s", d.ChipID, i, c.Slot)
			}
			text := strings.TrimSpace(c.Text)
			if c.Encoding == "base64-der" {
				der, err := base64.StdEncoding.DecodeString(text)
				if err != nil {
					t.Fatal(err)
				}
				entries = append(entries, parseEntry(t, d.ChipID, der, true))
			} else {
				entries = append(entries, parseEntry(t, d.ChipID, []byte(text), false))
			}
			entries[len(entries)-1].keyElsewhere = d.Key != "" || d.PrivateKey != ""
		}
		checkEntries(t, res, slot, entries)
	}
}

func TestGenerateOptions(t *testing.T) {
	tests := []struct {
		name string
		o    generate.Options
	}{
		{name: "unknown format", o: generate.Options{N: 1, Format: "csv"}},
		{name: "unknown slot", o: generate.Options{N: 1, Format: generate.FormatXML, Slots: []string{"E0E9"}}},
		{name: "bad devices without good ones", o: generate.Options{N: 0, Bad: true, Format: generate.FormatXML}},
		{name: "negative count", o: generate.Options{N: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := generate.Write(filepath.Join(t.TempDir(), "x"), tc.o); err == nil {
				t.Error("no error")
			}
		})
	}
}
