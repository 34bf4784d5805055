package manifest

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"sync"
)

// HasPrivateKey reports whether b holds private key material in any form
// a manifest can carry it: a PEM block whose type ends in PRIVATE KEY in
// any case (ENCRYPTED PRIVATE KEY too), or the words anywhere; a PEM block
// of any type, a PEM header, a run of base64 or a DER blob that has the
// shape of (or, after a first element such as a certificate, holds) a
// PKCS #8, SEC 1 or PKCS #1 private key. Certificates themselves never
// match. It keeps nothing of b: what it decodes goes to scratch memory
// that it wipes, and keys are matched by their structure, never parsed
// into key objects, so readers can run it over much text that is not
// theirs to keep. It takes time linear in len(b).
func HasPrivateKey(b []byte) bool { return hasKey(b, true) }

// hasKey is HasPrivateKey; certBodies false leaves the bodies of
// CERTIFICATE blocks to the caller.
func hasKey(b []byte, certBodies bool) bool {
	if containsFold(b, "private key") {
		return true
	}
	rest := b
	for {
		i := bytes.Index(rest, pemBegin)
		if i < 0 {
			return blobHasKey(rest)
		}
		if blobHasKey(rest[:i]) {
			return true
		}
		rest = rest[i:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return false // a BEGIN line and nothing after it
		}
		body := rest[nl+1:]
		end := bytes.Index(body, pemEnd)
		if end < 0 {
			return blobHasKey(body)
		}
		if bytes.Contains(body[:end], pemBegin) { // Index is fast; LastIndex is not
			j := bytes.LastIndex(body[:end], pemBegin)
			// Unterminated blocks: go on from the last BEGIN before this
			// END (searching from each would take quadratic time).
			if blobHasKey(body[:j]) {
				return true
			}
			rest = body[j:]
			continue
		}
		if !certBodies && bytes.HasPrefix(rest, pemCertBegin) && bytes.HasPrefix(body[end:], pemCertEnd) {
			if bytes.IndexByte(body[:end], ':') >= 0 && blockHasKey(body[:end], false) {
				return true // in a header
			}
		} else if blockHasKey(body[:end], true) {
			return true
		}
		rest = body[end+len(pemEnd):]
		if k := bytes.Index(rest, pemDashes); k >= 0 {
			rest = rest[k+len(pemDashes):] // the rest of the END line
		}
	}
}

var (
	pemEnd       = []byte("-----END")
	pemCertBegin = []byte("-----BEGIN CERTIFICATE-----")
	pemCertEnd   = []byte("-----END CERTIFICATE-----")
	pemDashes    = []byte("-----")
)

// blockHasKey looks at the inside of a PEM block: header lines ("Name:
// value") and, with decode, base64 lines, decoded into scratch.
func blockHasKey(body []byte, decode bool) bool {
	sp := scratch.Get().(*[2][]byte)
	defer scratch.Put(sp)
	raw := sp[0][:0]
	defer func() { clear(raw); sp[0] = raw[:0] }()
	for len(body) > 0 {
		line := body
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			line, body = body[:nl], body[nl+1:]
		} else {
			body = nil
		}
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			if blobHasKey(line[c+1:]) {
				return true
			}
			continue
		}
		if !decode {
			continue
		}
		for _, ch := range line {
			if !isSpace(ch) {
				raw = append(raw, ch)
			}
		}
	}
	if !decode {
		return false
	}
	der, err := base64.StdEncoding.AppendDecode(sp[1][:0], raw)
	defer func() { clear(der); sp[1] = der[:0] }()
	return err == nil && DERHasPrivateKey(der)
}

// ScanPEM returns the DER of each CERTIFICATE block of PEM text b and
// whether b holds private key material (HasPrivateKey). With key material
// it returns no certificates.
func ScanPEM(b []byte) (certs [][]byte, key bool) {
	// The CERTIFICATE blocks are decoded once, here, and checked for a
	// key glued to the certificate.
	if hasKey(b, false) {
		return nil, true
	}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return certs, false
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if DERHasPrivateKey(blk.Bytes) {
			clear(blk.Bytes)
			for _, c := range certs {
				clear(c)
			}
			return nil, true
		}
		certs = append(certs, blk.Bytes)
	}
}

var pemBegin = []byte("-----BEGIN")

// containsFold reports whether b contains the lower-case ASCII word w in
// any case.
func containsFold[T string | []byte](b T, w string) bool {
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
	sp := scratch.Get().(*[2][]byte)
	defer scratch.Put(sp)
	run := sp[0][:0]
	defer func() { clear(run); sp[0] = run[:0] }()
	for i := 0; i < len(b); {
		// The next field: a run of bytes that are not white space.
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		j := i
		for j < len(b) && !isSpace(b[j]) {
			j++
		}
		f := b[i:j]
		i = j
		if len(f) == 0 {
			break
		}
		if isBase64(f) {
			run = append(run, f...)
			continue
		}
		if base64Key(run, sp) {
			return true
		}
		run = run[:0]
	}
	return base64Key(run, sp)
}

// scratch holds buffers for a base64 run and its decoding, wiped after
// use.
var scratch = sync.Pool{New: func() any { return new([2][]byte) }}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
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

// minKeyBase64 is the length of the base64 of the shortest key DER the
// parsers take (an EC P-256 key in SEC 1 with its curve and without its
// public key, 51 bytes), rounded down: shorter runs are not decoded.
const minKeyBase64 = 64

// base64Key decodes run into sp[1] and checks it for a key, wiping the
// decoded bytes.
func base64Key(run []byte, sp *[2][]byte) bool {
	if len(run) < minKeyBase64 {
		return false
	}
	enc := base64.StdEncoding
	if run[len(run)-1] != '=' && len(run)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	der, err := enc.AppendDecode(sp[1][:0], run)
	defer func() { clear(der); sp[1] = der[:0] }()
	if err != nil {
		return false
	}
	return DERHasPrivateKey(der)
}

// StringHasPrivateKey is HasPrivateKey for a string, such as an XML
// attribute value; it copies s only when s is long enough to hold a key.
func StringHasPrivateKey(s string) bool {
	if len(s) < minKeyBase64 {
		return containsFold(s, "private key")
	}
	return HasPrivateKey([]byte(s))
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

// The shapes of private keys in DER, as crypto/x509 parses them, with
// the optional trailing fields of newer versions: only the structure is
// looked at, not the key's numbers, so a crafted huge key costs no
// arithmetic and no key object is made.
type (
	pkcs8Shape struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
		Attrs      asn1.RawValue `asn1:"optional,tag:0"`
		Public     asn1.RawValue `asn1:"optional,tag:1"`
	}
	sec1Shape struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
		Public     asn1.BitString        `asn1:"optional,explicit,tag:1"`
	}
	pkcs1Shape struct {
		Version          int
		N, E, D, P, Q    asn1.RawValue
		Dp, Dq, Qinv     asn1.RawValue
		AdditionalPrimes asn1.RawValue `asn1:"optional"`
	}
)

// isKeyDER reports whether the first DER element of der has the shape of
// a PKCS #8, SEC 1 or PKCS #1 private key.
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
	var p8 pkcs8Shape
	if rest, err := asn1.Unmarshal(k, &p8); err == nil && len(rest) == 0 && (p8.Version == 0 || p8.Version == 1) && len(p8.Algo.Algorithm) > 0 && len(p8.PrivateKey) > 0 {
		return true
	}
	var ec sec1Shape
	if rest, err := asn1.Unmarshal(k, &ec); err == nil && len(rest) == 0 && ec.Version == 1 && len(ec.PrivateKey) > 0 {
		return true
	}
	var p1 pkcs1Shape
	if rest, err := asn1.Unmarshal(k, &p1); err == nil && len(rest) == 0 && (p1.Version == 0 || p1.Version == 1) {
		for _, n := range []asn1.RawValue{p1.N, p1.E, p1.D, p1.P, p1.Q, p1.Dp, p1.Dq, p1.Qinv} {
			if n.Tag != asn1.TagInteger || n.Class != asn1.ClassUniversal {
				return false
			}
		}
		return true
	}
	return false
}
