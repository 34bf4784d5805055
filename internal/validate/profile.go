package validate

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
)

// The device certificate profile: what a certificate must be to be
// imported as a Thing's certificate. Every rule is here, each with the
// AWS documentation it comes from, and each failure has its own reason.
var (
	// ErrCA: a device certificate is an end entity. AWS IoT developer
	// guide, "X.509 client certificates": a client certificate
	// authenticates one device; a CA certificate is registered as a CA
	// (RegisterCACertificate), never as a device's certificate.
	ErrCA = errors.New("certificate is a CA certificate (BasicConstraints CA:TRUE), not a device certificate")
	// ErrKeyUsage: AWS IoT authenticates a device by a TLS client
	// signature ("X.509 client certificates"; RFC 5280 4.2.1.3): a key
	// usage extension, when present, must allow digitalSignature.
	ErrKeyUsage = errors.New("key usage does not allow digitalSignature (TLS client authentication)")
	// ErrExtKeyUsage: an extended key usage, when present, must allow
	// TLS client authentication ("X.509 client certificates"; RFC 5280
	// 4.2.1.12): clientAuth or anyExtendedKeyUsage.
	ErrExtKeyUsage = errors.New("extended key usage does not allow TLS client authentication")
	// ErrMultipleCommonNames: the subject CN names the Thing (see
	// ErrThingName); with two CNs which one is meant is a guess.
	ErrMultipleCommonNames = errors.New("subject has more than one CN")
	// ErrKeyAlgorithm: "X.509 client certificates" and the Device
	// Defender audit check "device certificate key quality": AWS IoT
	// takes RSA and ECC (NIST curve) keys only; Ed25519 and the rest are
	// refused.
	ErrKeyAlgorithm = errors.New("key type is not one AWS IoT accepts (RSA of at least 2048 bits, ECDSA on P-256, P-384 or P-521)")
	// ErrWeakKey: Device Defender audit check "device certificate key
	// quality": RSA keys under 2048 bits, and ECC keys on other curves,
	// are refused ("The key in the certificate is not valid").
	ErrWeakKey = errors.New("key is too weak for AWS IoT")
	// ErrSignatureAlgorithm: "X.509 client certificates" lists the
	// signature algorithms AWS IoT accepts: SHA-256/384/512 with RSA
	// (PKCS #1 v1.5 or PSS), ECDSA or DSA; SHA-1 and MD5 are not among
	// them.
	ErrSignatureAlgorithm = errors.New("signature algorithm is not one AWS IoT accepts")
	// ErrAttribute: API reference, AttributePayload: a thing attribute
	// value matches [a-zA-Z0-9_.,@/:#=\[\]-]* and has at most 800
	// characters, a name matches [a-zA-Z0-9_.,@/:#-]+ of at most 128,
	// and a Thing has at most 50 (3 without a thing type). The chip, reel
	// and batch IDs and the vendor's Record.Attributes become attributes.
	ErrAttribute = errors.New("value is not a valid AWS IoT thing attribute")
	// ErrChipID: Infineon's chip ID is 20 hexadecimal characters (batch
	// number and the chip's wafer position), as printed on its reel's
	// list; anything else is not a chip ID of theirs.
	ErrChipID = errors.New("chip ID is not an Infineon chip ID (20 hexadecimal characters)")
)

// signatureAlgorithms are the ones "X.509 client certificates" lists.
var signatureAlgorithms = []x509.SignatureAlgorithm{
	x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
	x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
	x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
	x509.DSAWithSHA256,
}

// minRSABits is the least RSA modulus AWS IoT accepts.
const minRSABits = 2048

var (
	oidKeyUsage   = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// checkProfile applies the device certificate profile to c. It needs no
// signature check, so it runs before the chain is verified.
func checkProfile(c *x509.Certificate) error {
	if !slices.Contains(signatureAlgorithms, c.SignatureAlgorithm) {
		return fmt.Errorf("%w: %v", ErrSignatureAlgorithm, c.SignatureAlgorithm)
	}
	if err := checkKey(c.PublicKey); err != nil {
		return err
	}
	if c.BasicConstraintsValid && c.IsCA {
		return ErrCA
	}
	if hasExtension(c, oidKeyUsage) && c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: %s", ErrKeyUsage, keyUsageNames(c.KeyUsage))
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return fmt.Errorf("%w: %s", ErrExtKeyUsage, extKeyUsageNames(c))
		}
	}
	switch n := commonNames(c); {
	case n == 0:
		return ErrNoCommonName
	case n > 1:
		return fmt.Errorf("%w: %d", ErrMultipleCommonNames, n)
	}
	return nil
}

func checkKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits {
			return fmt.Errorf("%w: RSA key of %d bits (at least %d)", ErrWeakKey, n, minRSABits)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("%w: ECDSA key on %s (want P-256, P-384 or P-521)", ErrWeakKey, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		return fmt.Errorf("%w: Ed25519", ErrKeyAlgorithm)
	default:
		return fmt.Errorf("%w: %T", ErrKeyAlgorithm, pub)
	}
	return nil
}

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

func commonNames(c *x509.Certificate) int {
	n := 0
	for _, a := range c.Subject.Names {
		if a.Type.Equal(oidCommonName) {
			n++
		}
	}
	return n
}

func keyUsageNames(ku x509.KeyUsage) string {
	names := []string{"digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment",
		"keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"}
	var out []string
	for i, n := range names {
		if ku&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func extKeyUsageNames(c *x509.Certificate) string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageCodeSigning: "codeSigning",
		x509.ExtKeyUsageEmailProtection: "emailProtection", x509.ExtKeyUsageTimeStamping: "timeStamping",
		x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
	}
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("usage %d", u))
		}
	}
	for _, o := range c.UnknownExtKeyUsage {
		out = append(out, o.String())
	}
	return strings.Join(out, ", ")
}

// validAttribute reports whether s matches AWS IoT's rule for a thing
// attribute value, [a-zA-Z0-9_.,@/:#=\[\]-]* (length aside).
func validAttribute(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_.,@/:#=[]-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// maxAttributeLen is the most characters of an attribute value.
const maxAttributeLen = 800

// infineonChipID reports whether s has the form of an Infineon chip ID.
func infineonChipID(s string) bool {
	if len(s) != 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// checkAttributes checks the values a Thing gets as attributes (see
// importer.Device.Attributes) and the chip ID's form for its vendor.
func checkAttributes(d *Checked) error {
	for _, a := range []struct{ name, value string }{
		{"chip_id", d.ChipID}, {"reel_id", d.ReelID}, {"batch_id", d.BatchID},
	} {
		if err := checkAttribute(a.name, a.value); err != nil {
			return err
		}
	}
	if len(d.Attributes) > maxAttributes {
		return fmt.Errorf("%w: %d attributes (a Thing has at most %d)", ErrAttribute, len(d.Attributes), maxAttributes)
	}
	names := slices.Sorted(maps.Keys(d.Attributes))
	for _, k := range names {
		switch {
		case len(k) == 0 || len(k) > maxAttributeNameLen || !validAttributeName(k):
			return fmt.Errorf(`%w: name %s must match [a-zA-Z0-9_.,@/:#-]{1,%d}`, ErrAttribute, quote(k), maxAttributeNameLen)
		case k == "chip_id" || k == "reel_id" || k == "batch_id":
			return fmt.Errorf("%w: %s is set by thingpress", ErrAttribute, k)
		}
		if err := checkAttribute(k, d.Attributes[k]); err != nil {
			return err
		}
	}
	if d.Vendor == manifest.VendorInfineon && d.ChipID != "" && !infineonChipID(d.ChipID) {
		return fmt.Errorf("%w: %s", ErrChipID, quote(d.ChipID))
	}
	return nil
}

func checkAttribute(name, value string) error {
	switch {
	case len(value) > maxAttributeLen:
		return fmt.Errorf("%w: %s of %d characters (at most %d)", ErrAttribute, name, len(value), maxAttributeLen)
	case !validAttribute(value):
		return fmt.Errorf(`%w: %s %s must match [a-zA-Z0-9_.,@/:#=\[\]-]*`, ErrAttribute, name, quote(value))
	}
	return nil
}

// validAttributeName reports whether s matches AWS IoT's rule for a thing
// attribute name, [a-zA-Z0-9_.,@/:#-]+ (length aside).
func validAttributeName(s string) bool {
	return strings.IndexByte(s, '=') < 0 && strings.IndexByte(s, '[') < 0 && strings.IndexByte(s, ']') < 0 && validAttribute(s)
}

// maxAttributeNameLen is the most characters of an attribute name;
// maxAttributes the most attributes of a Thing (with a thing type).
const (
	maxAttributeNameLen = 128
	maxAttributes       = 50
)

// quote shows an untrusted value in a message: quoted, at most 40
// characters.
func quote(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q...", s[:40])
	}
	return fmt.Sprintf("%q", s)
}
