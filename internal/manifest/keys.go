package manifest

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
)

// HasPrivateKey reports whether b holds private key material in any form
// a manifest can carry it: a PEM block whose type ends in PRIVATE KEY in
// any case (ENCRYPTED PRIVATE KEY too), or the words anywhere; a PEM block
// of another type, a PEM header, a run of base64 or a DER blob that parses
// as a PKCS #8,
// SEC 1 or PKCS #1 private key. Certificates themselves never match. It
// keeps nothing of b; it uses scratch that the caller cannot wipe only
// when a base64 run decodes, and wipes that.
func HasPrivateKey(b []byte) bool {
	_, key := ScanPEM(b)
	return key
}

// ScanPEM returns the DER of each CERTIFICATE block of PEM text b and
// whether b holds private key material (as HasPrivateKey), in one pass.
// With key material it returns no certificates.
func ScanPEM(b []byte) (certs [][]byte, key bool) {
	if containsFold(b, "private key") {
		return nil, true
	}
	rest := b
	for len(rest) > 0 {
		i := bytes.Index(rest, pemBegin)
		if i < 0 {
			if blobHasKey(rest) {
				return nil, true
			}
			break
		}
		if blobHasKey(rest[:i]) {
			return nil, true
		}
		blk, after := pem.Decode(rest[i:])
		if blk == nil {
			// Not a whole block: look past its BEGIN line.
			rest = rest[i+len(pemBegin):]
			continue
		}
		if DERHasPrivateKey(blk.Bytes) {
			clear(blk.Bytes)
			return nil, true
		}
		for _, v := range blk.Headers {
			if blobHasKey([]byte(v)) {
				return nil, true
			}
		}
		if blk.Type == "CERTIFICATE" {
			certs = append(certs, blk.Bytes)
		}
		rest = after
	}
	return certs, false
}

var pemBegin = []byte("-----BEGIN")

// containsFold reports whether b contains the lower-case ASCII word w in
// any case.
func containsFold(b []byte, w string) bool {
	n := len(w)
	for i := 0; i+n <= len(b); i++ {
		if b[i]|0x20 != w[0] {
			continue
		}
		j := 1
		for ; j < n; j++ {
			c := b[i+j]
			if w[j] != ' ' {
				c |= 0x20
			}
			if c != w[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// blobHasKey looks at text outside PEM blocks: raw DER, or runs of base64
// separated by white space or other words.
func blobHasKey(b []byte) bool {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == 0x30 && DERHasPrivateKey(t) {
		return true // binary DER
	}
	t := bytes.TrimSpace(b)
	var run []byte
	for _, f := range bytes.Fields(t) {
		if isBase64(f) {
			run = append(run, f...)
			continue
		}
		if base64Key(run) {
			return true
		}
		run = run[:0]
	}
	return base64Key(run)
}

func isBase64(f []byte) bool {
	for _, c := range f {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// base64Key decodes run and checks it for a key, wiping the decoded
// bytes. The shortest key DER (an EC P-256 key in PKCS #8 without the
// public key) is over 60 bytes, so shorter runs are not decoded.
func base64Key(run []byte) bool {
	if len(run) < 80 {
		return false
	}
	enc := base64.StdEncoding
	if run[len(run)-1] != '=' && len(run)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	der, err := enc.AppendDecode(nil, run)
	defer clear(der)
	if err != nil {
		return false
	}
	return DERHasPrivateKey(der)
}

// DERHasPrivateKey reports whether der is, or its first element is
// followed by, a private key in DER.
func DERHasPrivateKey(der []byte) bool {
	return isKeyDER(der) || trailingKey(der)
}

// trailingKey reports whether a key follows the first DER element of der
// (a certificate with a key glued to it).
func trailingKey(der []byte) bool {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) == 0 {
		return false
	}
	return isKeyDER(rest)
}

// isKeyDER reports whether the first DER element of der parses as a
// private key.
func isKeyDER(der []byte) bool {
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(der, &v); err != nil || v.Tag != asn1.TagSequence {
		return false
	}
	// Each key form starts with its version, an INTEGER; a certificate
	// starts with a SEQUENCE. Looking first spares the parsers' errors.
	if len(v.Bytes) == 0 || v.Bytes[0] != asn1.TagInteger {
		return false
	}
	k := v.FullBytes
	if _, err := x509.ParsePKCS8PrivateKey(k); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(k); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(k); err == nil {
		return true
	}
	return false
}
