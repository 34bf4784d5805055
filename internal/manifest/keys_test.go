package manifest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
)

func TestHasPrivateKey(t *testing.T) {
	ca, err := generate.NewRoot("keys test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(generate.LeafOptions{Seed: "keys"})
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf, err := ca.Issue(generate.LeafOptions{Seed: "keys rsa", Key: "rsa2048"})
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw})
	ecDER := leaf.KeyDER()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaLeaf.Key.(*rsa.PrivateKey))
	edLeaf, err := ca.Issue(generate.LeafOptions{Seed: "keys ed", Key: "ed25519"})
	if err != nil {
		t.Fatal(err)
	}
	edPKCS8 := edLeaf.KeyDER()
	rsaPKCS8, err := x509.MarshalPKCS8PrivateKey(rsaLeaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(leaf.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	// SEC 1 with the curve and without the public key, the shortest
	// form.
	ecKey := leaf.Key.(*ecdsa.PrivateKey)
	sec1Bare, err := asn1.Marshal(struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	}{1, mustBytes(t, ecKey), asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}})
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }
	wrapped := func(b []byte) []byte {
		s := base64.StdEncoding.EncodeToString(b)
		var out strings.Builder
		for len(s) > 64 {
			out.WriteString(s[:64] + "\r\n")
			s = s[64:]
		}
		out.WriteString(s + "\r\n")
		return []byte(out.String())
	}
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{name: "certificate", data: cert},
		{name: "certificate CRLF", data: generate.PEM(leaf.Cert)},
		{name: "two certificates", data: cat(cert, cert)},
		{name: "certificate base64 alone", data: wrapped(leaf.Cert.Raw)},
		{name: "certificate DER", data: leaf.Cert.Raw},
		{name: "EC PRIVATE KEY", data: cat(cert, leaf.KeyPEM()), want: true},
		{name: "lower-case type", data: cat(cert, block("ec private key", ecDER)), want: true},
		{name: "PRIVATE KEY", data: cat(cert, block("PRIVATE KEY", pkcs8)), want: true},
		{name: "RSA PRIVATE KEY", data: cat(cert, block("RSA PRIVATE KEY", pkcs1)), want: true},
		{name: "ENCRYPTED PRIVATE KEY", data: cat(cert, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")), want: true},
		{name: "the words alone", data: cat(cert, []byte("Private Key: none\n")), want: true},
		{name: "key under another PEM type", data: cat(cert, block("KEY", pkcs8)), want: true},
		{name: "key in a CERTIFICATE block", data: block("CERTIFICATE", ecDER), want: true},
		{name: "bare base64 SEC 1 after", data: cat(cert, b64(ecDER)), want: true},
		{name: "wrapped base64 PKCS 8 after", data: cat(cert, wrapped(pkcs8)), want: true},
		{name: "base64 before", data: cat(wrapped(pkcs1), cert), want: true},
		{name: "base64 after a comment", data: cat(cert, []byte("key follows:\n"), wrapped(pkcs8)), want: true},
		{name: "raw DER after", data: cat(cert, ecDER), want: true},
		{name: "raw DER PKCS 1 after", data: cat(cert, []byte("\r\n"), pkcs1), want: true},
		{name: "key glued to certificate DER", data: cat(leaf.Cert.Raw, pkcs8), want: true},
		{name: "key glued inside a CERTIFICATE block", data: block("CERTIFICATE", cat(leaf.Cert.Raw, ecDER)), want: true},
		{name: "key in a PEM header", data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw, Headers: map[string]string{"Key": string(b64(pkcs8))}}), want: true},
		{name: "Ed25519 PKCS 8 base64 after", data: cat(cert, wrapped(edPKCS8)), want: true},
		{name: "RSA PKCS 8 block", data: cat(cert, block("PRIVATE KEY", rsaPKCS8)), want: true},
		{name: "SEC 1 without public key, base64", data: cat(cert, b64(sec1Bare)), want: true},
		{name: "RSA public key PKCS 1 after", data: cat(cert, wrapped(x509.MarshalPKCS1PublicKey(&rsaLeaf.Key.(*rsa.PrivateKey).PublicKey)))},
		{name: "public key info block", data: cat(cert, block("PUBLIC KEY", spki))},
		{name: "junk base64", data: cat(cert, []byte(strings.Repeat("QUJD", 40)))},
		{name: "empty", data: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := manifest.HasPrivateKey(bytes.Clone(tt.data)); got != tt.want {
				t.Errorf("HasPrivateKey() = %v, want %v", got, tt.want)
			}
			if _, got := manifest.ScanPEM(bytes.Clone(tt.data)); got != tt.want {
				t.Errorf("ScanPEM() key = %v, want %v", got, tt.want)
			}
		})
	}
	if !manifest.DERHasPrivateKey(cat(leaf.Cert.Raw, ecDER)) || manifest.DERHasPrivateKey(leaf.Cert.Raw) {
		t.Errorf("DERHasPrivateKey wrong for a certificate with and without a key")
	}
}

// FuzzScanPEM checks that no input makes the key search panic and that
// the two entry points agree.
func FuzzScanPEM(f *testing.F) {
	ca, err := generate.NewRoot("keys fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := ca.Issue(generate.LeafOptions{Seed: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(generate.PEM(leaf.Cert))
	f.Add(append(generate.PEM(leaf.Cert), leaf.KeyPEM()...))
	f.Add(append(generate.PEM(leaf.Cert), leaf.KeyDER()...))
	f.Add([]byte("-----BEGIN X-----\nKey: AAAA\n\nAAAA\n-----END X-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, key := manifest.ScanPEM(bytes.Clone(b))
		if key && certs != nil {
			t.Error("certificates returned with key material")
		}
		if key != manifest.HasPrivateKey(bytes.Clone(b)) {
			t.Error("ScanPEM and HasPrivateKey disagree")
		}
	})
}

// TestHasPrivateKeyLinear guards against quadratic scans of hostile text.
func TestHasPrivateKeyLinear(t *testing.T) {
	for _, unit := range []string{"-----BEGIN\n", "-----BEGIN X-----\nAAAA\n", "-----END X-----", "A "} {
		b := []byte(strings.Repeat(unit, (64<<10)/len(unit)))
		start := time.Now()
		manifest.HasPrivateKey(b)
		manifest.ScanPEM(b)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%q x %d: %v", unit, len(b)/len(unit), d)
		}
	}
}

func mustBytes(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
