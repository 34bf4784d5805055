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
	"time"
)

//go:embed anchors/*.crt
var infineonFS embed.FS

// Errors of trust decisions and trust files.
var (
	// ErrUntrusted means a certificate does not chain to the anchors.
	// Every reason below wraps it.
	ErrUntrusted = errors.New("certificate does not chain to a trusted CA")
	// ErrNoRoot means a trust file holds no self-signed root.
	ErrNoRoot = errors.New("no self-signed root certificate")
	// ErrBadTrustFile means a trust file is not PEM certificates.
	ErrBadTrustFile = errors.New("bad trust file")
)

// Reasons a certificate does not chain; each wraps ErrUntrusted.
var (
	// ErrUnknownIssuer means no anchor has the certificate's issuer name.
	ErrUnknownIssuer = untrusted("certificate does not chain to a trusted CA: unknown issuer")
	// ErrBadSignature means an anchor of the issuer's name did not sign it.
	ErrBadSignature = untrusted("signature does not verify with the issuer's key")
	// ErrIssuerNotValid means the issuing CA, or a CA above it, is outside
	// its validity period.
	ErrIssuerNotValid = untrusted("issuing CA is outside its validity period")
	// ErrIssuerNotCA means the issuer is not a CA (no BasicConstraints
	// CA:TRUE), so it may not issue certificates.
	ErrIssuerNotCA = untrusted("issuer is not a CA")
	// ErrIssuerNotTrusted means the issuer was given as an intermediate
	// but does not chain to a root.
	ErrIssuerNotTrusted = untrusted("issuer does not chain to a trusted root")
	// ErrCriticalExtension means the certificate has a critical
	// extension that is not understood.
	ErrCriticalExtension = untrusted("unhandled critical extension")
	// ErrIsAnchor means the certificate is itself a trust anchor.
	ErrIsAnchor = untrusted("certificate is itself a trust anchor")
	// ErrChain is any other failure of the chain, with crypto/x509's
	// words.
	ErrChain = untrusted("chain does not verify")
)

// kindError is a reason that reads as its own message and wraps
// ErrUntrusted, so errors.Is finds both.
type kindError struct{ msg string }

func untrusted(msg string) error   { return &kindError{msg: msg} }
func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return ErrUntrusted }

// Store holds trust anchors and the intermediates that chain to them.
type Store struct {
	// anchors pools the roots and the intermediates that verified
	// against them, all as roots of x509 verification: a device's chain
	// ends at its issuer, so checking it costs one signature.
	anchors *x509.CertPool
	names   []string
	// bySubject indexes the anchors by raw subject, to explain failures.
	bySubject map[string][]*x509.Certificate
	// above holds, per anchor, the CAs above it (the intermediate's
	// verified path to its root), whose validity also bounds it.
	above map[*x509.Certificate][]*x509.Certificate
	// refused holds the certificates given that are not anchors, by raw
	// subject, with the reason, to explain a device they issued.
	refused map[string][]refusal
	// rejected names the refused certificates.
	rejected []string
}

type refusal struct {
	cert   *x509.Certificate
	reason error
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

// New builds a store from certificates: self-signed CA certificates
// become roots, the others are kept as issuers if they are CAs that chain
// to a root at time now. The rest are refused, and a device they issued
// is told why.
func New(certs []*x509.Certificate, now time.Time) (*Store, error) {
	s := &Store{
		anchors:   x509.NewCertPool(),
		above:     map[*x509.Certificate][]*x509.Certificate{},
		bySubject: map[string][]*x509.Certificate{},
		refused:   map[string][]refusal{},
	}
	roots := x509.NewCertPool()
	inter := x509.NewCertPool()
	var others []*x509.Certificate
	nroots := 0
	for _, c := range certs {
		if !isSelfSigned(c) {
			others = append(others, c)
			inter.AddCert(c)
			continue
		}
		if !c.IsCA {
			s.refuse(c, fmt.Errorf("%w: %q is self-signed but not a CA (no BasicConstraints CA:TRUE)", ErrIssuerNotCA, c.Subject.CommonName))
			continue
		}
		nroots++
		roots.AddCert(c)
		s.addAnchor(c, nil)
	}
	if nroots == 0 {
		return nil, ErrNoRoot
	}
	for _, c := range others {
		if !c.IsCA {
			s.refuse(c, fmt.Errorf("%w: %q has no BasicConstraints CA:TRUE", ErrIssuerNotCA, c.Subject.CommonName))
			continue
		}
		chains, err := c.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			s.refuse(c, refusalOf(c, now, err))
			continue
		}
		s.addAnchor(c, chains[0][1:])
	}
	return s, nil
}

func (s *Store) addAnchor(c *x509.Certificate, above []*x509.Certificate) {
	s.anchors.AddCert(c)
	k := string(c.RawSubject)
	s.bySubject[k] = append(s.bySubject[k], c)
	s.names = append(s.names, c.Subject.CommonName)
	s.above[c] = above
}

func (s *Store) refuse(c *x509.Certificate, reason error) {
	k := string(c.RawSubject)
	s.refused[k] = append(s.refused[k], refusal{cert: c, reason: reason})
	s.rejected = append(s.rejected, c.Subject.CommonName)
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// Rejected names the certificates that are not trusted to issue
// devices: intermediates that did not chain to a root, and CAs that are
// not CAs.
func (s *Store) Rejected() []string { return slices.Clone(s.rejected) }

// Anchors describes the store: the common names of its roots and
// trusted intermediates, sorted.
func (s *Store) Anchors() []string {
	names := slices.Clone(s.names)
	slices.Sort(names)
	return names
}

// Verify checks that leaf was issued by a CA of the store that is valid
// at now (and whose own path to its root is), and returns that CA. A leaf
// that verifies costs one signature check. The leaf must itself be valid
// at now: callers check its validity period first, to say so in their
// own words.
func (s *Store) Verify(leaf *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:       s.anchors,
		CurrentTime: now,
		// The device profile checks the leaf's extended key usage.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, s.explain(leaf, now, err)
	}
	chain := chains[0]
	if len(chain) < 2 {
		return nil, fmt.Errorf("%w: %q", ErrIsAnchor, dn(leaf.Subject.String()))
	}
	ca := chain[1]
	if err := s.aboveValid(ca, now); err != nil {
		return nil, err
	}
	return ca, nil
}

// aboveValid checks the CAs above anchor ca at now.
func (s *Store) aboveValid(ca *x509.Certificate, now time.Time) error {
	for _, up := range s.above[ca] {
		if err := validAt(up, now); err != nil {
			return fmt.Errorf("%w: %q, above issuer %q, %w", ErrIssuerNotValid, up.Subject.CommonName, ca.Subject.CommonName, err)
		}
	}
	return nil
}

// explain says why leaf did not verify: x509's errors keep the rejected
// candidate to themselves, so this looks again, which costs a signature
// check per candidate issuer, on failures only.
func (s *Store) explain(leaf *x509.Certificate, now time.Time, err error) error {
	var (
		ci  x509.CertificateInvalidError
		uce x509.UnhandledCriticalExtension
	)
	switch {
	case errors.As(err, &uce):
		oid := "?"
		if len(leaf.UnhandledCriticalExtensions) > 0 {
			oid = leaf.UnhandledCriticalExtensions[0].String()
		}
		return fmt.Errorf("%w %s", ErrCriticalExtension, oid)
	case errors.As(err, &ci) && ci.Cert == leaf:
		if verr := validAt(leaf, now); verr != nil {
			return fmt.Errorf("%w: certificate %w", ErrChain, verr)
		}
		return fmt.Errorf("%w: %w", ErrChain, err)
	}
	var sigErr error
	for _, ca := range s.bySubject[string(leaf.RawIssuer)] {
		if e := leaf.CheckSignatureFrom(ca); e != nil {
			sigErr = fmt.Errorf("%w: %q: %w", ErrBadSignature, ca.Subject.CommonName, e)
			continue
		}
		if e := validAt(ca, now); e != nil {
			return fmt.Errorf("%w: %q %w", ErrIssuerNotValid, ca.Subject.CommonName, e)
		}
		if e := s.aboveValid(ca, now); e != nil {
			return e
		}
		return fmt.Errorf("%w: issued by %q: %w", ErrChain, ca.Subject.CommonName, err)
	}
	for _, r := range s.refused[string(leaf.RawIssuer)] {
		// CheckSignature, not CheckSignatureFrom, which refuses a non-CA
		// parent before looking at the signature.
		if r.cert.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil {
			return r.reason
		}
	}
	if sigErr != nil {
		return sigErr
	}
	return fmt.Errorf("%w %q", ErrUnknownIssuer, dn(leaf.Issuer.String()))
}

func validAt(c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("not valid until %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// refusal explains an intermediate that did not verify against the roots.
func refusalOf(c *x509.Certificate, now time.Time, err error) error {
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Cert == c {
		if verr := validAt(c, now); verr != nil {
			return fmt.Errorf("%w: %q %w", ErrIssuerNotValid, c.Subject.CommonName, verr)
		}
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return fmt.Errorf("%w: %q is not issued by a root of the trust file", ErrIssuerNotTrusted, c.Subject.CommonName)
	}
	return fmt.Errorf("%w: %q: %w", ErrIssuerNotTrusted, c.Subject.CommonName, err)
}

func dn(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
