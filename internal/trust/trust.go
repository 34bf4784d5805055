package trust

import (
	"bytes"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed anchors/*.crt
var infineonFS embed.FS

// Errors of trust decisions and trust files.
var (
	// ErrUntrusted means a certificate does not chain to the anchors.
	ErrUntrusted = errors.New("certificate does not chain to a trusted CA")
	// ErrNoRoot means a trust file holds no self-signed root.
	ErrNoRoot = errors.New("no self-signed root certificate")
	// ErrBadTrustFile means a trust file is not PEM certificates.
	ErrBadTrustFile = errors.New("bad trust file")
)

// Store holds trust anchors and the intermediates that chain to them.
type Store struct {
	roots []*x509.Certificate
	// issuers holds every CA a device may be issued by (roots and
	// intermediates that verified against a root), by raw subject.
	issuers map[string][]*x509.Certificate
	// rejected names intermediates that did not chain to a root.
	rejected []string
}

// Infineon returns a store of Infineon's public OPTIGA CAs (ECC Root CA 2,
// RSA Root CA 2, Trust M CA 300, 306 and 309), embedded in the binary.
func Infineon() (*Store, error) {
	var certs []*x509.Certificate
	err := fs.WalkDir(infineonFS, "anchors", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		der, err := infineonFS.ReadFile(p)
		if err != nil {
			return err
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("embedded anchor %s: %w", path.Base(p), err)
		}
		certs = append(certs, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return New(certs, time.Now())
}

// FromPEM returns a store of the certificates in a PEM file: the
// self-signed ones are roots, the rest intermediates.
func FromPEM(data []byte) (*Store, error) {
	var certs []*x509.Certificate
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: unexpected PEM block %q", ErrBadTrustFile, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrBadTrustFile, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no PEM certificates", ErrBadTrustFile)
	}
	return New(certs, time.Now())
}

// New builds a store from certificates: self-signed ones become roots, the
// others are kept as issuers if they chain to a root at time now.
func New(certs []*x509.Certificate, now time.Time) (*Store, error) {
	s := &Store{issuers: map[string][]*x509.Certificate{}}
	roots := x509.NewCertPool()
	inter := x509.NewCertPool()
	var others []*x509.Certificate
	for _, c := range certs {
		if isSelfSigned(c) {
			s.roots = append(s.roots, c)
			roots.AddCert(c)
			s.add(c)
			continue
		}
		others = append(others, c)
		inter.AddCert(c)
	}
	if len(s.roots) == 0 {
		return nil, ErrNoRoot
	}
	for _, c := range others {
		_, err := c.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil || !c.IsCA {
			s.rejected = append(s.rejected, c.Subject.CommonName)
			continue
		}
		s.add(c)
	}
	return s, nil
}

func (s *Store) add(c *x509.Certificate) {
	k := string(c.RawSubject)
	s.issuers[k] = append(s.issuers[k], c)
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// Rejected names the intermediates that did not chain to a root and so
// are not trusted to issue devices.
func (s *Store) Rejected() []string { return slices.Clone(s.rejected) }

// Anchors describes the store: the common names of its roots and
// trusted intermediates, sorted.
func (s *Store) Anchors() []string {
	var names []string
	for _, cs := range s.issuers {
		for _, c := range cs {
			names = append(names, c.Subject.CommonName)
		}
	}
	slices.Sort(names)
	return names
}

// Verify checks that leaf was issued by a CA of the store that is valid
// at now, and returns that CA. The leaf's own validity period is not
// checked here.
func (s *Store) Verify(leaf *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	if len(leaf.UnhandledCriticalExtensions) > 0 {
		return nil, fmt.Errorf("%w: unhandled critical extension %v", ErrUntrusted, leaf.UnhandledCriticalExtensions[0])
	}
	cands := s.issuers[string(leaf.RawIssuer)]
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: issuer %q is not a trusted CA", ErrUntrusted, dn(leaf.Issuer.String()))
	}
	var errs []string
	for _, ca := range cands {
		if now.Before(ca.NotBefore) || now.After(ca.NotAfter) {
			errs = append(errs, fmt.Sprintf("issuer %q is outside its validity period", ca.Subject.CommonName))
			continue
		}
		if err := leaf.CheckSignatureFrom(ca); err != nil {
			errs = append(errs, fmt.Sprintf("signature does not verify with %q: %v", ca.Subject.CommonName, err))
			continue
		}
		return ca, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUntrusted, strings.Join(errs, "; "))
}

func dn(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
