package trust_test

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/trust"
)

func readPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInfineonVerifiesRealSample(t *testing.T) {
	store, err := trust.Infineon()
	if err != nil {
		t.Fatal(err)
	}
	if rej := store.Rejected(); len(rej) != 0 {
		t.Fatalf("embedded intermediates rejected: %v", rej)
	}
	tests := []struct {
		name       string
		file       string
		wantIssuer string
	}{
		{name: "E0E0", file: "0A091B5C001500070063_E0E0.pem", wantIssuer: "Infineon OPTIGA(TM) Trust M CA 306"},
		{name: "E0E1", file: "0A091B5C001500070063_E0E1.pem", wantIssuer: "Infineon OPTIGA(TM) Trust M CA 306"},
		{name: "E0E2", file: "0A091B5C001500070063_E0E2.pem", wantIssuer: "Infineon OPTIGA(TM) Trust M CA 309"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf := readPEMCert(t, filepath.Join("testdata", tt.file))
			ca, err := store.Verify(leaf, time.Now())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ca.Subject.CommonName != tt.wantIssuer {
				t.Errorf("issuer = %q, want %q", ca.Subject.CommonName, tt.wantIssuer)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	root, err := generate.NewRoot("Test Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Test Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := generate.NewRoot("Other Root")
	if err != nil {
		t.Fatal(err)
	}
	otherInter, err := otherRoot.NewIntermediate("Test Intermediate") // same name, other key
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expiredInter, err := root.NewIntermediateWith("Expired Intermediate", generate.CAOptions{NotBefore: now.AddDate(-5, 0, 0), NotAfter: now.AddDate(0, 0, -1)})
	if err != nil {
		t.Fatal(err)
	}
	notCA, err := root.NewIntermediateWith("Not A CA", generate.CAOptions{NotCA: true})
	if err != nil {
		t.Fatal(err)
	}
	// A root that ends before its intermediate does.
	shortRoot, err := generate.NewRootWith("Short Root", generate.CAOptions{NotAfter: now.AddDate(2, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	longInter, err := shortRoot.NewIntermediate("Long Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	strayInter, err := otherRoot.NewIntermediate("Stray Intermediate") // its root is not in the bundle
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, c := range []*generate.CA{root, inter, expiredInter, notCA, shortRoot, longInter, strayInter} {
		bundle = append(bundle, generate.PEM(c.Cert)...)
	}
	store, err := trust.FromPEM(bundle)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *generate.CA, o generate.LeafOptions) *x509.Certificate {
		t.Helper()
		o.Seed = t.Name()
		o.NotBefore = now.AddDate(0, 0, -1)
		o.NotAfter = now.AddDate(40, 0, 0)
		l, err := ca.Issue(o)
		if err != nil {
			t.Fatal(err)
		}
		return l.Cert
	}
	// x509 refuses a critical extension it does not know.
	critical := issue(inter, generate.LeafOptions{})
	critical.UnhandledCriticalExtensions = []asn1.ObjectIdentifier{{1, 2, 3, 4}}
	notCATwin, err := otherRoot.NewIntermediate("Not A CA") // same name as the refused one, other key
	if err != nil {
		t.Fatal(err)
	}
	expiredLeaf, err := inter.Issue(generate.LeafOptions{Seed: "expired", NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(-1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		leaf    *x509.Certificate
		now     time.Time
		wantCA  string
		wantErr error
		wantMsg string
	}{
		{name: "through intermediate", leaf: issue(inter, generate.LeafOptions{}), now: now, wantCA: "Test Intermediate"},
		{name: "directly by root", leaf: issue(root, generate.LeafOptions{}), now: now, wantCA: "Test Root"},
		{name: "unknown CA", leaf: issue(otherRoot, generate.LeafOptions{}), now: now, wantErr: trust.ErrUnknownIssuer, wantMsg: `unknown issuer "CN=Other Root`},
		{name: "same issuer name, other key", leaf: issue(otherInter, generate.LeafOptions{}), now: now, wantErr: trust.ErrBadSignature, wantMsg: `"Test Intermediate"`},
		{name: "issuer expired", leaf: issue(inter, generate.LeafOptions{}), now: now.AddDate(30, 0, 0), wantErr: trust.ErrIssuerNotValid, wantMsg: `"Test Intermediate" expired on`},
		{name: "intermediate expired before now", leaf: issue(expiredInter, generate.LeafOptions{}), now: now, wantErr: trust.ErrIssuerNotValid, wantMsg: `"Expired Intermediate" expired on`},
		{name: "issuer is not a CA", leaf: issue(notCA, generate.LeafOptions{}), now: now, wantErr: trust.ErrIssuerNotCA, wantMsg: `"Not A CA" has no BasicConstraints CA:TRUE`},
		{name: "name of a refused issuer, other key", leaf: issue(notCATwin, generate.LeafOptions{}), now: now, wantErr: trust.ErrUnknownIssuer, wantMsg: "Not A CA"},
		{name: "root above the issuer expired", leaf: issue(longInter, generate.LeafOptions{}), now: now.AddDate(3, 0, 0), wantErr: trust.ErrIssuerNotValid, wantMsg: `"Short Root", above issuer "Long Intermediate", expired on`},
		{name: "issuer without its root", leaf: issue(strayInter, generate.LeafOptions{}), now: now, wantErr: trust.ErrIssuerNotTrusted, wantMsg: `"Stray Intermediate" is not issued by a root of the trust file`},
		{name: "the leaf itself expired", leaf: expiredLeaf.Cert, now: now, wantErr: trust.ErrChain, wantMsg: "certificate expired on"},
		{name: "the anchor itself", leaf: inter.Cert, now: now, wantErr: trust.ErrIsAnchor},
		{name: "critical extension", leaf: critical, now: now, wantErr: trust.ErrCriticalExtension, wantMsg: "1.2.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := store.Verify(tt.leaf, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, trust.ErrUntrusted) {
					t.Errorf("error %v does not wrap ErrUntrusted", err)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q lacks %q", err, tt.wantMsg)
				}
				return
			}
			if ca.Subject.CommonName != tt.wantCA {
				t.Errorf("issuer %q, want %q", ca.Subject.CommonName, tt.wantCA)
			}
		})
	}
	if rej := store.Rejected(); !slices.Equal(rej, []string{"Expired Intermediate", "Not A CA", "Stray Intermediate"}) {
		t.Errorf("Rejected() = %v", rej)
	}
}

// BenchmarkVerify measures one device check against the real CA 306
// (P-384) chain.
func BenchmarkVerify(b *testing.B) {
	store, err := trust.Infineon()
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "0A091B5C001500070063_E0E0.pem"))
	if err != nil {
		b.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.Verify(leaf, now); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFromPEM(t *testing.T) {
	root, err := generate.NewRoot("Test Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Test Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	stray, err := generate.NewRoot("Stray Root")
	if err != nil {
		t.Fatal(err)
	}
	strayInter, err := stray.NewIntermediate("Stray Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	notCARoot, err := generate.NewRootWith("Self-signed non-CA", generate.CAOptions{NotCA: true})
	if err != nil {
		t.Fatal(err)
	}
	notCAInter, err := root.NewIntermediateWith("Non-CA Intermediate", generate.CAOptions{NotCA: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		pem          []byte
		wantErr      error
		wantAnchors  int
		wantRejected int
	}{
		{name: "root and intermediate", pem: append(generate.PEM(root.Cert), generate.PEM(inter.Cert)...), wantAnchors: 2},
		{name: "intermediate only", pem: generate.PEM(inter.Cert), wantErr: trust.ErrNoRoot},
		{name: "self-signed non-CA only", pem: generate.PEM(notCARoot.Cert), wantErr: trust.ErrNoRoot},
		{name: "root, intermediate and a non-CA intermediate", pem: append(append(generate.PEM(root.Cert), generate.PEM(inter.Cert)...), generate.PEM(notCAInter.Cert)...), wantAnchors: 2, wantRejected: 1},
		{name: "intermediate of another root", pem: append(generate.PEM(root.Cert), generate.PEM(strayInter.Cert)...), wantAnchors: 1, wantRejected: 1},
		{name: "empty", pem: nil, wantErr: trust.ErrBadTrustFile},
		{name: "not PEM", pem: []byte("hello"), wantErr: trust.ErrBadTrustFile},
		{name: "key block", pem: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), wantErr: trust.ErrBadTrustFile},
		{name: "bad certificate", pem: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), wantErr: trust.ErrBadTrustFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := trust.FromPEM(tt.pem)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("FromPEM() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := len(s.Anchors()); got != tt.wantAnchors {
				t.Errorf("anchors = %d (%v), want %d", got, s.Anchors(), tt.wantAnchors)
			}
			if got := len(s.Rejected()); got != tt.wantRejected {
				t.Errorf("rejected = %d, want %d", got, tt.wantRejected)
			}
		})
	}
}
