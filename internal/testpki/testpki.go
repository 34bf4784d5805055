package testpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"
)

// CA is a certificate authority that can issue certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var serial atomic.Int64

func nextSerial() *big.Int { return big.NewInt(serial.Add(1) + 1000) }

// NewRoot makes a self-signed root CA valid from ten years ago to twenty
// years from now.
func NewRoot(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := caTemplate(cn)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

func caTemplate(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{Country: []string{"DE"}, Organization: []string{"thingpress test"}, CommonName: cn},
		NotBefore:             now.AddDate(-10, 0, 0),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// NewIntermediate makes a CA issued by ca.
func (ca *CA) NewIntermediate(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, caTemplate(cn), ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("create intermediate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LeafOptions shape a device certificate. Zero values give a valid leaf
// like Infineon's: C=DE, CN of 64 hex characters, valid for 20 years.
type LeafOptions struct {
	CommonName string // empty: derived from Seed; "-" means no CN at all
	Seed       string // makes the default CN unique and reproducible
	NotBefore  time.Time
	NotAfter   time.Time
}

// Leaf is an issued device certificate and its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// sharedLeafKey is reused by every leaf: generating a key per device would
// dominate the time of making a large fixture, and a test never needs
// leaves to differ in their keys.
var sharedLeafKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

// Issue makes a device certificate signed by ca.
func (ca *CA) Issue(o LeafOptions) (*Leaf, error) {
	cn := o.CommonName
	if cn == "" {
		sum := sha256.Sum256([]byte(o.Seed))
		cn = hex.EncodeToString(sum[:])
	}
	subject := pkix.Name{Country: []string{"DE"}}
	if cn != "-" {
		subject.CommonName = cn
	}
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = time.Now().AddDate(0, 0, -1)
	}
	if na.IsZero() {
		na = nb.AddDate(20, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               subject,
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, sharedLeafKey.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue leaf: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: sharedLeafKey}, nil
}

// PEM returns the certificate as PEM with CRLF line endings, as Infineon
// writes its files.
func PEM(c *x509.Certificate) []byte {
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// KeyPEM returns the leaf's private key as a PEM block, for the test of a
// manifest that wrongly carries key material.
func (l *Leaf) KeyPEM() []byte {
	der, _ := x509.MarshalECPrivateKey(l.Key)
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
