package validate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
)

func testCA(t *testing.T) *generate.CA {
	t.Helper()
	ca, err := generate.NewRoot("profile test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *generate.CA, o generate.LeafOptions) *x509.Certificate {
	t.Helper()
	if o.CommonName == "" {
		o.Seed = t.Name()
	}
	l, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return l.Cert
}

// runProfile runs each case's certificate through checkProfile.
func runProfile(t *testing.T, tests []profileCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkProfile(tt.cert)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("checkProfile() = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
		})
	}
}

type profileCase struct {
	name    string
	cert    *x509.Certificate
	wantErr error
	wantMsg string
}

func TestProfileNotCA(t *testing.T) {
	ca := testCA(t)
	runProfile(t, []profileCase{
		{name: "end entity", cert: issue(t, ca, generate.LeafOptions{})},
		{name: "CA:TRUE", cert: issue(t, ca, generate.LeafOptions{IsCA: true}), wantErr: ErrCA},
		{name: "a CA certificate", cert: ca.Cert, wantErr: ErrCA},
	})
}

func TestProfileKeyUsage(t *testing.T) {
	ca := testCA(t)
	runProfile(t, []profileCase{
		{name: "digitalSignature", cert: issue(t, ca, generate.LeafOptions{})},
		{name: "digitalSignature and keyAgreement", cert: issue(t, ca, generate.LeafOptions{KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement})},
		{name: "keyCertSign only", cert: issue(t, ca, generate.LeafOptions{KeyUsage: x509.KeyUsageCertSign}), wantErr: ErrKeyUsage, wantMsg: "keyCertSign"},
		{name: "keyAgreement only", cert: issue(t, ca, generate.LeafOptions{KeyUsage: x509.KeyUsageKeyAgreement}), wantErr: ErrKeyUsage, wantMsg: "keyAgreement"},
	})
}

func TestProfileExtKeyUsage(t *testing.T) {
	ca := testCA(t)
	runProfile(t, []profileCase{
		{name: "none", cert: issue(t, ca, generate.LeafOptions{})},
		{name: "clientAuth", cert: issue(t, ca, generate.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})},
		{name: "server and client", cert: issue(t, ca, generate.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})},
		{name: "any", cert: issue(t, ca, generate.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})},
		{name: "codeSigning only", cert: issue(t, ca, generate.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}), wantErr: ErrExtKeyUsage, wantMsg: "codeSigning"},
		{name: "serverAuth only", cert: issue(t, ca, generate.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}), wantErr: ErrExtKeyUsage, wantMsg: "serverAuth"},
	})
}

func TestProfileCommonNames(t *testing.T) {
	ca := testCA(t)
	runProfile(t, []profileCase{
		{name: "one", cert: issue(t, ca, generate.LeafOptions{CommonName: "thing-1"})},
		{name: "none", cert: issue(t, ca, generate.LeafOptions{CommonName: "-"}), wantErr: ErrNoCommonName},
		{name: "two", cert: issue(t, ca, generate.LeafOptions{CommonName: "thing-1", SecondCN: "thing-2"}), wantErr: ErrMultipleCommonNames, wantMsg: "2"},
	})
}

func TestProfileKey(t *testing.T) {
	ca := testCA(t)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	runProfile(t, []profileCase{
		{name: "P-256", cert: issue(t, ca, generate.LeafOptions{})},
		{name: "P-384", cert: issue(t, ca, generate.LeafOptions{Key: "p384"})},
		{name: "RSA 2048", cert: issue(t, ca, generate.LeafOptions{Key: "rsa2048"})},
		{name: "RSA 1024", cert: issue(t, ca, generate.LeafOptions{Key: "rsa1024"}), wantErr: ErrWeakKey, wantMsg: "RSA key of 1024 bits"},
		{name: "Ed25519", cert: issue(t, ca, generate.LeafOptions{Key: "ed25519"}), wantErr: ErrKeyAlgorithm, wantMsg: "Ed25519"},
	})
	// A curve AWS does not take (internal/generate makes no P-224 leaves).
	if err := checkKey(&p224.PublicKey); !errors.Is(err, ErrWeakKey) || !strings.Contains(err.Error(), "P-224") {
		t.Errorf("P-224: %v, want ErrWeakKey", err)
	}
}

func TestProfileSignatureAlgorithm(t *testing.T) {
	ca := testCA(t)
	runProfile(t, []profileCase{
		{name: "ECDSA SHA-256", cert: issue(t, ca, generate.LeafOptions{})},
		{name: "ECDSA SHA-384", cert: issue(t, ca, generate.LeafOptions{SignatureAlgorithm: x509.ECDSAWithSHA384})},
		{name: "ECDSA SHA-512", cert: issue(t, ca, generate.LeafOptions{SignatureAlgorithm: x509.ECDSAWithSHA512})},
		{name: "ECDSA SHA-1", cert: issue(t, ca, generate.LeafOptions{SignatureAlgorithm: x509.ECDSAWithSHA1}), wantErr: ErrSignatureAlgorithm, wantMsg: "ECDSA-SHA1"},
	})
	// An RSA CA for the RSA algorithms, MD5 included: crypto/x509 still
	// signs with them.
	for _, tt := range []struct {
		alg x509.SignatureAlgorithm
		ok  bool
	}{
		{alg: x509.SHA256WithRSA, ok: true},
		{alg: x509.SHA384WithRSAPSS, ok: true},
		{alg: x509.SHA1WithRSA},
		{alg: x509.MD5WithRSA},
	} {
		c := &x509.Certificate{SignatureAlgorithm: tt.alg, PublicKey: issue(t, ca, generate.LeafOptions{}).PublicKey}
		err := checkProfile(c)
		if tt.ok != !errors.Is(err, ErrSignatureAlgorithm) {
			t.Errorf("%v: %v", tt.alg, err)
		}
	}
}

func TestAttributes(t *testing.T) {
	long := strings.Repeat("A", 5000)
	tests := []struct {
		name    string
		d       Checked
		wantErr error
		wantMsg string
	}{
		{name: "Infineon chip", d: Checked{Record: manifest.Record{ChipID: "0A091B5C001500070063", ReelID: "78211223032C7EFA", BatchID: "b41425b9-b42b-47fd-95c2-f981b4c61561", Vendor: manifest.VendorInfineon}}},
		{name: "no chip ID", d: Checked{Record: manifest.Record{Vendor: manifest.VendorInfineon}}},
		{name: "other vendor, short ID", d: Checked{Record: manifest.Record{ChipID: "A1"}}},
		{name: "chip ID of 800", d: Checked{Record: manifest.Record{ChipID: long[:800]}}},
		{name: "chip ID of 801", d: Checked{Record: manifest.Record{ChipID: long[:801]}}, wantErr: ErrAttribute, wantMsg: "chip_id of 801 characters"},
		{name: "chip ID of 5000", d: Checked{Record: manifest.Record{ChipID: long, Vendor: manifest.VendorInfineon}}, wantErr: ErrAttribute, wantMsg: "chip_id of 5000 characters"},
		{name: "chip ID with space", d: Checked{Record: manifest.Record{ChipID: "A B"}}, wantErr: ErrAttribute, wantMsg: `chip_id "A B"`},
		{name: "reel ID with quote", d: Checked{Record: manifest.Record{ReelID: `a"b`}}, wantErr: ErrAttribute, wantMsg: "reel_id"},
		{name: "batch ID with newline", d: Checked{Record: manifest.Record{BatchID: "a\nb"}}, wantErr: ErrAttribute, wantMsg: `batch_id "a\nb"`},
		{name: "path traversal, Infineon", d: Checked{Record: manifest.Record{ChipID: "../../etc/passwd", Vendor: manifest.VendorInfineon}}, wantErr: ErrChipID, wantMsg: `"../../etc/passwd"`},
		{name: "21 hex, Infineon", d: Checked{Record: manifest.Record{ChipID: "0A091B5C0015000700631", Vendor: manifest.VendorInfineon}}, wantErr: ErrChipID},
		{name: "19 hex, Infineon", d: Checked{Record: manifest.Record{ChipID: "0A091B5C00150007006", Vendor: manifest.VendorInfineon}}, wantErr: ErrChipID},
		{name: "lower-case hex, Infineon", d: Checked{Record: manifest.Record{ChipID: "0a091b5c001500070063", Vendor: manifest.VendorInfineon}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkAttributes(&tt.d)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("checkAttributes() = %v, want %v", err, tt.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), tt.wantMsg) || len(err.Error()) > 200) {
				t.Errorf("error %q: want it short, with %q", err, tt.wantMsg)
			}
		})
	}
}
