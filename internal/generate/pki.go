package generate

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
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

// CAOptions shape a CA certificate. Zero values give a P-256 CA valid
// from ten years ago to twenty years from now.
type CAOptions struct {
	Curve     elliptic.Curve // the CA key's curve; nil means P-256
	NotBefore time.Time
	NotAfter  time.Time
	// NotCA leaves out BasicConstraints CA:TRUE: a certificate that signs
	// others without being allowed to.
	NotCA bool
}

func (o CAOptions) template(cn string) *x509.Certificate {
	t := caTemplate(cn)
	if !o.NotBefore.IsZero() {
		t.NotBefore = o.NotBefore
	}
	if !o.NotAfter.IsZero() {
		t.NotAfter = o.NotAfter
	}
	if o.NotCA {
		t.IsCA = false
		t.BasicConstraintsValid = false
	}
	return t
}

func (o CAOptions) key() (*ecdsa.PrivateKey, error) {
	c := o.Curve
	if c == nil {
		c = elliptic.P256()
	}
	return ecdsa.GenerateKey(c, rand.Reader)
}

// NewRoot makes a self-signed root CA valid from ten years ago to twenty
// years from now.
func NewRoot(cn string) (*CA, error) { return NewRootWith(cn, CAOptions{}) }

// NewRootWith makes a self-signed root CA shaped by o.
func NewRootWith(cn string, o CAOptions) (*CA, error) {
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	tmpl := o.template(cn)
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
func (ca *CA) NewIntermediate(cn string) (*CA, error) { return ca.NewIntermediateWith(cn, CAOptions{}) }

// NewIntermediateWith makes a CA issued by ca, shaped by o.
func (ca *CA) NewIntermediateWith(cn string, o CAOptions) (*CA, error) {
	key, err := o.key()
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, o.template(cn), ca.Cert, key.Public(), ca.Key)
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
	// SecondCN adds a second CN attribute after CommonName.
	SecondCN string
	// Key is the leaf's key type: "" (the shared P-256 key), "p384",
	// "ed25519", "rsa1024" or "rsa2048".
	Key string
	// IsCA marks the leaf BasicConstraints CA:TRUE.
	IsCA bool
	// KeyUsage replaces digitalSignature when not zero.
	KeyUsage x509.KeyUsage
	// ExtKeyUsage, when set, is written as the extended key usage.
	ExtKeyUsage []x509.ExtKeyUsage
	// SignatureAlgorithm, when set, is the one the CA signs with (e.g.
	// x509.ECDSAWithSHA1).
	SignatureAlgorithm x509.SignatureAlgorithm
}

// Leaf is an issued device certificate and its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
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
	if o.SecondCN != "" {
		subject.CommonName = ""
		subject.ExtraNames = []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: o.SecondCN},
		}
	}
	key, err := leafKey(o.Key)
	if err != nil {
		return nil, err
	}
	ku := x509.KeyUsageDigitalSignature
	if o.KeyUsage != 0 {
		ku = o.KeyUsage
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
		KeyUsage:              ku,
		ExtKeyUsage:           o.ExtKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
		SignatureAlgorithm:    o.SignatureAlgorithm,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue leaf: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key}, nil
}

var (
	keyMu    sync.Mutex
	leafKeys = map[string]crypto.Signer{}
)

// leafKey returns the shared key of a type, made once per process.
func leafKey(kind string) (crypto.Signer, error) {
	if kind == "" {
		return sharedLeafKey, nil
	}
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := leafKeys[kind]; ok {
		return k, nil
	}
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "rsa1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "rsa2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("unknown key type %q", kind)
	}
	if err != nil {
		return nil, err
	}
	leafKeys[kind] = k
	return k, nil
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
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: l.KeyDER()})
}

// KeyDER returns the leaf's private key as DER: SEC 1 for an EC key,
// PKCS #8 for the others.
func (l *Leaf) KeyDER() []byte {
	if k, ok := l.Key.(*ecdsa.PrivateKey); ok {
		der, _ := x509.MarshalECPrivateKey(k)
		return der
	}
	der, _ := x509.MarshalPKCS8PrivateKey(l.Key)
	return der
}
