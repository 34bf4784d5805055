package trust_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/testpki"
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
	root, err := testpki.NewRoot("Test Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Test Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := testpki.NewRoot("Other Root")
	if err != nil {
		t.Fatal(err)
	}
	otherInter, err := otherRoot.NewIntermediate("Test Intermediate") // same name, other key
	if err != nil {
		t.Fatal(err)
	}
	store, err := trust.FromPEM(append(testpki.PEM(root.Cert), testpki.PEM(inter.Cert)...))
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *testpki.CA) *x509.Certificate {
		t.Helper()
		l, err := ca.Issue(testpki.LeafOptions{Seed: t.Name()})
		if err != nil {
			t.Fatal(err)
		}
		return l.Cert
	}
	tests := []struct {
		name    string
		leaf    *x509.Certificate
		now     time.Time
		wantErr error
	}{
		{name: "through intermediate", leaf: issue(inter), now: time.Now()},
		{name: "directly by root", leaf: issue(root), now: time.Now()},
		{name: "unknown CA", leaf: issue(otherRoot), now: time.Now(), wantErr: trust.ErrUntrusted},
		{name: "same issuer name, other key", leaf: issue(otherInter), now: time.Now(), wantErr: trust.ErrUntrusted},
		{name: "issuer expired", leaf: issue(inter), now: time.Now().AddDate(30, 0, 0), wantErr: trust.ErrUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.Verify(tt.leaf, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestFromPEM(t *testing.T) {
	root, err := testpki.NewRoot("Test Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Test Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	stray, err := testpki.NewRoot("Stray Root")
	if err != nil {
		t.Fatal(err)
	}
	strayInter, err := stray.NewIntermediate("Stray Intermediate")
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
		{name: "root and intermediate", pem: append(testpki.PEM(root.Cert), testpki.PEM(inter.Cert)...), wantAnchors: 2},
		{name: "intermediate only", pem: testpki.PEM(inter.Cert), wantErr: trust.ErrNoRoot},
		{name: "intermediate of another root", pem: append(testpki.PEM(root.Cert), testpki.PEM(strayInter.Cert)...), wantAnchors: 1, wantRejected: 1},
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
