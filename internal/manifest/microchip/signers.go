package microchip

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"
)

//go:embed signers/*.crt
var signerFiles embed.FS

// Signer is a certificate whose key signs manifest entries.
type Signer struct {
	Cert *x509.Certificate
	kid  string // base64url of the subject key identifier
	x5t  string // base64url of the SHA-256 of the DER
	key  *ecdsa.PublicKey
}

// Signers is a set of manifest signers. The zero value is empty; a nil
// *Signers given to NewReader means DefaultSigners.
type Signers struct {
	list []*Signer
}

// DefaultSigners returns a new set holding Microchip's published manifest
// signer certificates (built into the program).
func DefaultSigners() *Signers {
	s := &Signers{}
	names, err := fs.Glob(signerFiles, "signers/*.crt")
	if err != nil {
		panic(err) // the pattern is constant
	}
	for _, name := range names {
		data, err := signerFiles.ReadFile(name)
		if err == nil {
			err = s.AddPEM(data)
		}
		if err != nil {
			panic(fmt.Sprintf("built-in signer %s: %v", path.Base(name), err))
		}
	}
	return s
}

// NewSigners returns a set holding only certs.
func NewSigners(certs ...*x509.Certificate) (*Signers, error) {
	s := &Signers{}
	for _, c := range certs {
		if err := s.Add(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Add adds a signer certificate; its key must be ECDSA P-256 (ES256).
func (s *Signers) Add(c *x509.Certificate) error {
	key, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return fmt.Errorf("%w: %s: key is not ECDSA P-256", ErrSignerCert, c.Subject)
	}
	if len(c.SubjectKeyId) == 0 {
		return fmt.Errorf("%w: %s: no subject key identifier", ErrSignerCert, c.Subject)
	}
	sum := sha256.Sum256(c.Raw)
	s.list = append(s.list, &Signer{
		Cert: c,
		kid:  base64.RawURLEncoding.EncodeToString(c.SubjectKeyId),
		x5t:  base64.RawURLEncoding.EncodeToString(sum[:]),
		key:  key,
	})
	return nil
}

// AddPEM adds every CERTIFICATE block of data (a --signer file); data
// without one is an error.
func (s *Signers) AddPEM(data []byte) error {
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrSignerCert, err)
		}
		if err := s.Add(c); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: no PEM CERTIFICATE block", ErrSignerCert)
	}
	return nil
}

// List returns the signers in the order they were added.
func (s *Signers) List() []*Signer { return slices.Clone(s.list) }

// candidates returns the signers named by kid and, if given, x5t.
func (s *Signers) candidates(kid, x5t string) []*Signer {
	var out []*Signer
	for _, g := range s.list {
		if g.kid == kid && (x5t == "" || g.x5t == x5t) {
			out = append(out, g)
		}
	}
	return out
}

// validAt reports whether t lies within the signer's validity.
func (g *Signer) validAt(t time.Time) bool {
	return !t.Before(g.Cert.NotBefore) && !t.After(g.Cert.NotAfter)
}
