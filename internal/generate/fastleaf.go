package generate

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
)

// fastIssuer signs many good device certificates quickly. It makes one
// certificate with the shared leaf key (see Issue), then for each device patches
// the serial number and CN of that TBSCertificate in place (both have a
// fixed length: 4 bytes, as Infineon's, and 64 hex characters) and signs
// it. That skips x509.CreateCertificate's template encoding and its check
// of the fresh signature, which would cost three times the signing itself.
// Certificates that must differ in more (the bad cases) use Issue.
type fastIssuer struct {
	ca        *CA
	hash      crypto.Hash
	tbs       []byte
	sigAlg    []byte
	serialOff int
	cnOff     int
	cnLen     int
	pub       any
	serial    atomic.Uint32
}

const (
	cnLen          = 64         // the CNs of Infineon's device certificates
	serialBase     = 0x10000000 // 4-byte serials with the top bit clear
	serialTemplate = 0x7E5A5A5A
)

func newFastIssuer(ca *CA, cnLen int) (*fastIssuer, error) {
	placeholder := strings.Repeat("Z", cnLen)
	leaf, err := ca.Issue(LeafOptions{CommonName: placeholder})
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialTemplate),
		Subject:               leaf.Cert.Subject,
		NotBefore:             leaf.Cert.NotBefore,
		NotAfter:              leaf.Cert.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, leaf.Key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.ECDSAWithSHA256, x509.SHA256WithRSA:
		h = crypto.SHA256
	case x509.ECDSAWithSHA384, x509.SHA384WithRSA:
		h = crypto.SHA384
	case x509.ECDSAWithSHA512, x509.SHA512WithRSA:
		h = crypto.SHA512
	default:
		return nil, fmt.Errorf("fast issuer: unsupported signature algorithm %v", cert.SignatureAlgorithm)
	}
	var outer struct {
		TBS    asn1.RawValue
		SigAlg asn1.RawValue
		Sig    asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &outer); err != nil {
		return nil, err
	}
	tbs := outer.TBS.FullBytes
	serialOff := bytes.Index(tbs, []byte{0x02, 0x04, 0x7E, 0x5A, 0x5A, 0x5A})
	cnOff := bytes.Index(tbs, []byte(placeholder))
	if serialOff < 0 || serialOff > 16 || cnOff < 0 || bytes.LastIndex(tbs, []byte(placeholder)) != cnOff {
		return nil, errors.New("fast issuer: cannot find serial and CN in the template")
	}
	return &fastIssuer{
		ca:        ca,
		hash:      h,
		tbs:       tbs,
		sigAlg:    outer.SigAlg.FullBytes,
		serialOff: serialOff + 2,
		cnOff:     cnOff,
		cnLen:     cnLen,
		pub:       leaf.Key.Public(),
	}, nil
}

// issue returns the DER of a certificate with subject C=DE, CN=cn, where cn
// has the length the issuer was made for.
func (f *fastIssuer) issue(cn string) ([]byte, error) {
	if len(cn) != f.cnLen {
		return nil, fmt.Errorf("fast issuer: CN must have %d characters", f.cnLen)
	}
	s := serialBase + f.serial.Add(1)
	if s >= 0x80000000 {
		return nil, errors.New("fast issuer: out of serial numbers")
	}
	tbs := bytes.Clone(f.tbs)
	tbs[f.serialOff] = byte(s >> 24)
	tbs[f.serialOff+1] = byte(s >> 16)
	tbs[f.serialOff+2] = byte(s >> 8)
	tbs[f.serialOff+3] = byte(s)
	copy(tbs[f.cnOff:], cn)
	hh := f.hash.New()
	hh.Write(tbs)
	sig, err := f.ca.Key.Sign(rand.Reader, hh.Sum(nil), f.hash)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		TBS    asn1.RawValue
		SigAlg asn1.RawValue
		Sig    asn1.BitString
	}{
		TBS:    asn1.RawValue{FullBytes: tbs},
		SigAlg: asn1.RawValue{FullBytes: f.sigAlg},
		Sig:    asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)},
	})
}

// publicKey returns the key of the certificates the issuer makes.
func (f *fastIssuer) publicKey() any { return f.pub }
