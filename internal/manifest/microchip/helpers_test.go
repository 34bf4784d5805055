package microchip

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// testSigner is a manifest signer made for the tests.
type testSigner struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

// newTestSigner makes a self-signed P-256 signer certificate with the
// subject key identifier skid (nil: derived) valid from nb to na.
func newTestSigner(t testing.TB, cn string, skid []byte, nb, na time.Time) *testSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestSignerKey(t, key, cn, skid, nb, na)
}

// newTestSignerKey is newTestSigner with the given key.
func newTestSignerKey(t testing.TB, key *ecdsa.PrivateKey, cn string, skid []byte, nb, na time.Time) *testSigner {
	t.Helper()
	if skid == nil {
		sum := sha256.Sum256([]byte(cn))
		skid = sum[:20]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"thingpress test"}, CommonName: cn},
		NotBefore:             nb,
		NotAfter:              na,
		SubjectKeyId:          skid,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{key: key, cert: cert}
}

func (s *testSigner) kid() string { return base64.RawURLEncoding.EncodeToString(s.cert.SubjectKeyId) }

func (s *testSigner) x5t() string {
	sum := sha256.Sum256(s.cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *testSigner) signers(t testing.TB) *Signers {
	t.Helper()
	set, err := NewSigners(s.cert)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// header returns the protected header the signer's entries carry.
func (s *testSigner) header() map[string]any {
	return map[string]any{"typ": "JWT", "alg": "ES256", "kid": s.kid(), "x5t#S256": s.x5t()}
}

// sign returns the raw r||s ES256 signature of protected.payload.
func (s *testSigner) sign(t testing.TB, protected, payload string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(protected + "." + payload))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return base64.RawURLEncoding.EncodeToString(sig)
}

// devicePKI is a device CA with one issued leaf, as x5c wants them.
type devicePKI struct {
	ca   *generate.CA
	leaf *generate.Leaf
	x5c  []string
}

func newDevicePKI(t testing.TB) *devicePKI {
	t.Helper()
	ca, err := generate.NewRoot("Crypto Authentication Signer test")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(generate.LeafOptions{CommonName: "sn0123F2408EA1FCF201"})
	if err != nil {
		t.Fatal(err)
	}
	return &devicePKI{ca: ca, leaf: leaf, x5c: []string{
		base64.StdEncoding.EncodeToString(leaf.Cert.Raw),
		base64.StdEncoding.EncodeToString(ca.Cert.Raw),
	}}
}

// payload returns a version 1 payload like Trust&GO's for uniqueId uid.
func (p *devicePKI) payload(uid string) map[string]any {
	keys := []any{map[string]any{"kid": "0", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "x5c": p.x5c}}
	for i := 1; i < 5; i++ {
		keys = append(keys, map[string]any{"kid": fmt.Sprint(i), "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})
	}
	return map[string]any{
		"version":               1,
		"model":                 "ATECC608C",
		"partNumber":            "ATECC608C-TNGTLSU-B",
		"groupId":               "P5C8Q2UDYWLQ7HB4",
		"provisioningTimestamp": "2025-06-01T20:14:53.773Z",
		"uniqueId":              uid,
		"publicKeySet":          map[string]any{"keys": keys},
	}
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwsEntry is an entry as the manifest holds it; an empty HeaderUID
// leaves the unprotected header out.
type jwsEntry struct {
	Protected string `json:"protected"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
	Header    *struct {
		UniqueID string `json:"uniqueId"`
	} `json:"header,omitempty"`
}

// signed returns the entry of payload signed by s under header h.
func (s *testSigner) signed(t testing.TB, h, payload map[string]any) jwsEntry {
	t.Helper()
	e := jwsEntry{Protected: b64json(t, h), Payload: b64json(t, payload)}
	e.Signature = s.sign(t, e.Protected, e.Payload)
	if uid, ok := payload["uniqueId"].(string); ok {
		e.Header = &struct {
			UniqueID string `json:"uniqueId"`
		}{uid}
	}
	return e
}

func (e jwsEntry) json(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readAll reads every device of doc.
func readAll(t testing.TB, r io.Reader, opts manifest.Options, s *Signers) ([]Device, error) {
	t.Helper()
	mr := NewReader(r, "test.json", opts, s)
	defer mr.Close()
	return manifesttest.Collect(mr.NextDevice)
}
