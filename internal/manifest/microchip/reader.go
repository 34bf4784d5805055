package microchip

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
)

// Problems of one entry. Each wraps manifest.ErrMalformed too, except
// ErrTooLarge ones, which wrap manifest.ErrTooLarge, and ErrNoCertificate,
// which is no fault of the manifest (TrustFLEX entries may carry none).
var (
	ErrEntry         = errors.New("not a flattened JWS entry")
	ErrUnknownSigner = errors.New("no known manifest signer")
	ErrSignature     = errors.New("signature does not verify")
	ErrSignerTime    = errors.New("signer not valid at the provisioning time")
	ErrPayload       = errors.New("bad signed payload")
	ErrUniqueID      = errors.New("bad uniqueId")
	ErrNoCertificate = errors.New("no device certificate")
	ErrChain         = errors.New("device certificate not signed by the CA certificate after it")
	ErrPrivateKey    = errors.New("PRIVATE KEY MATERIAL in entry: the entry is never imported or sent anywhere")
	// ErrSignerCert is an unusable signer certificate given to Signers.
	ErrSignerCert = errors.New("unusable manifest signer certificate")
)

// elemFactor times Limits.MaxEntryBytes caps one array element: an entry
// carries its device certificate, the CA certificate and five public keys
// base64-encoded twice.
const elemFactor = 4

// maxRead caps one Read handed to the JSON decoder, so that what it
// reads ahead of the element it decodes is bounded too.
const maxRead = 32 << 10

// maxUniqueID caps the characters of a uniqueId (Microchip's are 18).
const maxUniqueID = 64

// Device is one entry with what the Microchip manifest adds to a Record.
// Its Record's ThingName is the signed payload's uniqueId, upper-cased
// (empty when the entry has a Problem found before the payload was
// trusted), and its Attributes are those of Attributes.
type Device struct {
	manifest.Record
	PartNumber            string
	GroupID               string
	ProvisioningTimestamp time.Time
	// Signer is the certificate whose key signed the entry; nil when the
	// signature was not verified.
	Signer *x509.Certificate
}

// Attributes returns the signed payload's fields worth keeping on the
// Thing, by their manifest names; empty values are left out.
func (d Device) Attributes() map[string]string {
	a := map[string]string{}
	if d.PartNumber != "" {
		a["partNumber"] = d.PartNumber
	}
	if d.GroupID != "" {
		a["groupId"] = d.GroupID
	}
	if !d.ProvisioningTimestamp.IsZero() {
		a["provisioningTimestamp"] = d.ProvisioningTimestamp.UTC().Format(time.RFC3339Nano)
	}
	return a
}

// Reader reads the entries of a Microchip manifest. It implements
// manifest.Source. It is not safe for concurrent use.
type Reader struct {
	file    string
	limits  manifest.Limits
	signers *Signers
	final   manifest.Final

	in      *manifest.CappedReader
	dec     *json.Decoder
	started bool
	entries int

	lastCA     *x509.Certificate // the CA certificate of the last entry
	lastCAText string            // its base64 DER as found
}

// Open opens the manifest at path; signers nil means DefaultSigners.
// The Reader owns the file: Close closes it.
func Open(path string, opts manifest.Options, signers *Signers) (*Reader, error) {
	return manifest.OpenFile(path, func(f io.Reader) (*Reader, *manifest.Final) {
		r := NewReader(f, path, opts, signers)
		return r, &r.final
	})
}

// NewReader returns a Reader of the manifest read from r; file names it
// in errors; signers nil means DefaultSigners. Close does not close r.
func NewReader(r io.Reader, file string, opts manifest.Options, signers *Signers) *Reader {
	opts = opts.WithDefaults()
	if signers == nil {
		signers = DefaultSigners()
	}
	in := manifest.NewCappedReader(r, opts.Limits.MaxTotalBytes).CapParts("an array element", elemFactor*opts.Limits.MaxEntryBytes, maxRead)
	return &Reader{file: file, limits: opts.Limits, signers: signers, in: in, dec: json.NewDecoder(in)}
}

var errClosed = errors.New("microchip manifest reader is closed")

// Close releases the reader and closes the file if Open opened it.
func (r *Reader) Close() error {
	r.dec, r.in = nil, nil
	return r.final.Close(r.file, errClosed)
}

// Next returns the record of the next entry, or io.EOF after the last.
func (r *Reader) Next() (manifest.Record, error) {
	d, err := r.NextDevice()
	return d.WithAttributes(d.Attributes()), err
}

// NextDevice returns the next entry with its Microchip fields, or io.EOF
// after the last. Any other error is a *manifest.Error and final.
func (r *Reader) NextDevice() (Device, error) {
	return manifest.Next(&r.final, r.next)
}

func (r *Reader) next() (Device, error) {
	if !r.started {
		r.started = true
		tok, err := r.dec.Token()
		if err == io.EOF {
			return Device{}, r.fatal(manifest.ErrMalformed, "empty file: want a JSON array")
		}
		if err != nil {
			return Device{}, r.fail(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return Device{}, r.fatal(manifest.ErrFormat, "not a JSON array")
		}
	}
	r.in.Mark()
	if !r.dec.More() {
		if _, err := r.dec.Token(); err != nil { // the closing ]
			return Device{}, r.fail(err)
		}
		if _, err := r.dec.Token(); err != io.EOF {
			if err == nil {
				return Device{}, r.fatal(manifest.ErrMalformed, "data after the array")
			}
			return Device{}, r.fail(err)
		}
		return Device{}, io.EOF
	}
	r.entries++
	if r.entries > r.limits.MaxEntries {
		return Device{}, r.fatal(manifest.ErrTooLarge, "more than %d entries", r.limits.MaxEntries)
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return Device{}, r.fail(err)
	}
	d := Device{Record: manifest.Record{Entry: r.entryName(), Encoding: manifest.DER, Vendor: manifest.VendorMicrochip}}
	r.entry(&d, raw)
	return d, nil
}

func (r *Reader) entryName() string { return "entry[" + strconv.Itoa(r.entries) + "]" }

// fatal returns a *manifest.Error naming the file, the entry (if inside
// or after one) and the byte offset.
func (r *Reader) fatal(kind error, format string, args ...any) error {
	var entry string
	if r.entries > 0 {
		entry = r.entryName()
	}
	return &manifest.Error{
		File:  r.file,
		Entry: entry,
		Err:   fmt.Errorf("%w: offset %d: %s", kind, r.dec.InputOffset(), fmt.Sprintf(format, args...)),
	}
}

// fail turns an error of the decoder or of the input into a
// *manifest.Error.
func (r *Reader) fail(err error) error {
	switch {
	case r.in.Exceeded() != "":
		return r.fatal(manifest.ErrTooLarge, "%s", r.in.Exceeded())
	case r.in.InputErr() != nil && errors.Is(err, r.in.InputErr()):
		var entry string
		if r.entries > 0 {
			entry = r.entryName()
		}
		return &manifest.Error{File: r.file, Entry: entry, Err: fmt.Errorf("read: %w", err)}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return r.fatal(manifest.ErrMalformed, "file ends inside the array")
	default:
		return r.fatal(manifest.ErrMalformed, "%v", err)
	}
}

// jws is an entry in flattened JSON serialisation.
type jws struct {
	Protected  *string         `json:"protected"`
	Payload    *string         `json:"payload"`
	Signature  *string         `json:"signature"`
	Header     json.RawMessage `json:"header"`
	Signatures json.RawMessage `json:"signatures"`
}

type protectedHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	X5t  string          `json:"x5t#S256"`
	Crit json.RawMessage `json:"crit"`
}

type payload struct {
	Version               int    `json:"version"`
	PartNumber            string `json:"partNumber"`
	GroupID               string `json:"groupId"`
	ProvisioningTimestamp string `json:"provisioningTimestamp"`
	UniqueID              string `json:"uniqueId"`
	PublicKeySet          *struct {
		Keys []struct {
			X5c []string        `json:"x5c"`
			D   json.RawMessage `json:"d"`
		} `json:"keys"`
	} `json:"publicKeySet"`
}

// entry fills d from one array element; any problem ends in d.Problem.
func (r *Reader) entry(d *Device, raw []byte) {
	var e jws
	if err := json.Unmarshal(raw, &e); err != nil {
		d.Problem = newProblem(ErrEntry, "%v", err)
		return
	}
	var unprotected struct {
		UniqueID *string `json:"uniqueId"`
	}
	if len(e.Header) > 0 && string(e.Header) != "null" {
		if err := json.Unmarshal(e.Header, &unprotected); err != nil {
			d.Problem = newProblem(ErrEntry, "unprotected header: %v", err)
			return
		}
		if u := unprotected.UniqueID; u != nil {
			d.ChipID = manifest.Truncate(*u, maxUniqueID) // for messages until the payload is trusted
		}
	}
	switch {
	case e.Signatures != nil:
		d.Problem = newProblem(ErrEntry, "general JWS serialisation (signatures) is not supported")
		return
	case e.Protected == nil || e.Payload == nil || e.Signature == nil:
		d.Problem = newProblem(ErrEntry, "protected, payload and signature are required")
		return
	}
	signer, err := r.verify(*e.Protected, *e.Payload, *e.Signature)
	if err != nil {
		d.Problem = err
		return
	}
	body, err := base64.RawURLEncoding.DecodeString(*e.Payload)
	if err != nil {
		d.Problem = newProblem(ErrPayload, "base64url: %v", err)
		return
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		d.Problem = newProblem(ErrPayload, "%v", err)
		return
	}
	if !validUniqueID(p.UniqueID) {
		d.Problem = newProblem(ErrUniqueID, "signed uniqueId %q is not 1 to %d hex characters", manifest.Truncate(p.UniqueID, maxUniqueID), maxUniqueID)
		return
	}
	d.ChipID = p.UniqueID
	if u := unprotected.UniqueID; u != nil && !strings.EqualFold(*u, p.UniqueID) {
		d.Problem = newProblem(ErrUniqueID, "unprotected header names %q, the signed payload %q", manifest.Truncate(*u, maxUniqueID), p.UniqueID)
		return
	}
	d.PartNumber, d.GroupID = manifest.Truncate(p.PartNumber, 128), manifest.Truncate(p.GroupID, 128)
	ts, err := time.Parse(time.RFC3339Nano, p.ProvisioningTimestamp)
	if err != nil {
		d.Problem = newProblem(ErrPayload, "provisioningTimestamp %q is not an RFC 3339 time", manifest.Truncate(p.ProvisioningTimestamp, 40))
		return
	}
	d.ProvisioningTimestamp = ts
	if !signer.validAt(ts) {
		d.Problem = newProblem(ErrSignerTime, "%s is valid from %s to %s, the entry was provisioned at %s", signer.Cert.Subject.CommonName,
			signer.Cert.NotBefore.UTC().Format(time.RFC3339), signer.Cert.NotAfter.UTC().Format(time.RFC3339), ts.UTC().Format(time.RFC3339Nano))
		return
	}
	d.Signer = signer.Cert
	d.ThingName = strings.ToUpper(p.UniqueID)
	der, err := r.certificate(&p)
	if err != nil {
		d.Problem = err
		return
	}
	d.Data = der
}

// verify checks the ES256 signature of protected.payload and returns the
// signer whose key made it.
func (r *Reader) verify(protected, payload, signature string) (*Signer, error) {
	hb, err := base64.RawURLEncoding.DecodeString(protected)
	if err != nil {
		return nil, newProblem(ErrEntry, "protected header: base64url: %v", err)
	}
	var h protectedHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, newProblem(ErrEntry, "protected header: %v", err)
	}
	switch {
	case h.Alg != "ES256":
		return nil, newProblem(ErrSignature, "alg %q, want ES256", manifest.Truncate(h.Alg, 20))
	case h.Crit != nil:
		return nil, newProblem(ErrSignature, "protected header has crit, which is not supported")
	case h.Kid == "":
		return nil, newProblem(ErrUnknownSigner, "protected header has no kid")
	}
	cands := r.signers.candidates(h.Kid, h.X5t)
	if len(cands) == 0 {
		if h.X5t != "" {
			return nil, newProblem(ErrUnknownSigner, "for kid %s and x5t#S256 %s", manifest.Truncate(h.Kid, 64), manifest.Truncate(h.X5t, 64))
		}
		return nil, newProblem(ErrUnknownSigner, "for kid %s", manifest.Truncate(h.Kid, 64))
	}
	sig, err := base64.RawURLEncoding.DecodeString(signature)
	if err != nil || len(sig) != 64 {
		return nil, newProblem(ErrSignature, "signature is not 64 bytes of base64url")
	}
	sum := sha256.Sum256([]byte(protected + "." + payload))
	rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	for _, g := range cands {
		if ecdsa.Verify(g.key, sum[:], rr, ss) {
			return g, nil
		}
	}
	return nil, newProblem(ErrSignature, "with the key of %s", cands[0].Cert.Subject.CommonName)
}

// certificate returns the DER of the device certificate in p, checked to
// be signed by the CA certificate after it.
func (r *Reader) certificate(p *payload) ([]byte, error) {
	if p.PublicKeySet == nil {
		return nil, newProblem(ErrNoCertificate, "signed payload (version %d) has no publicKeySet", p.Version)
	}
	for _, k := range p.PublicKeySet.Keys {
		if k.D != nil {
			return nil, newProblem(ErrPrivateKey, "a key in publicKeySet has a private part (d)")
		}
	}
	for _, k := range p.PublicKeySet.Keys {
		if len(k.X5c) == 0 {
			continue
		}
		if len(k.X5c) < 2 {
			return nil, newProblem(ErrChain, "x5c holds no CA certificate after the device certificate")
		}
		if int64(base64.StdEncoding.DecodedLen(len(k.X5c[0]))) > r.limits.MaxEntryBytes {
			return nil, newProblem(manifest.ErrTooLarge, "device certificate over %d bytes", r.limits.MaxEntryBytes)
		}
		der, err := base64.StdEncoding.DecodeString(k.X5c[0])
		if err != nil {
			return nil, newProblem(ErrPayload, "x5c[0]: base64: %v", err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, newProblem(ErrPayload, "x5c[0]: %v", err)
		}
		ca, err := r.caCert(k.X5c[1])
		if err != nil {
			return nil, err
		}
		if err := leaf.CheckSignatureFrom(ca); err != nil {
			return nil, newProblem(ErrChain, "%v", err)
		}
		return der, nil
	}
	return nil, newProblem(ErrNoCertificate, "no key in publicKeySet has x5c")
}

// caCert parses the base64 DER of a CA certificate; the last one is
// kept, since a manifest's entries share the CA that issued them.
func (r *Reader) caCert(b64 string) (*x509.Certificate, error) {
	if r.lastCA != nil && b64 == r.lastCAText {
		return r.lastCA, nil
	}
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, newProblem(ErrPayload, "x5c[1]: base64: %v", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, newProblem(ErrPayload, "x5c[1]: %v", err)
	}
	r.lastCA, r.lastCAText = ca, b64
	return ca, nil
}

func validUniqueID(s string) bool {
	if s == "" || len(s) > maxUniqueID {
		return false
	}
	_, err := hex.DecodeString(s + strings.Repeat("0", len(s)%2))
	return err == nil
}

// newProblem returns an entry's problem wrapping err and, except for
// ErrTooLarge and ErrNoCertificate, manifest.ErrMalformed.
func newProblem(err error, format string, args ...any) error {
	if errors.Is(err, ErrNoCertificate) {
		return manifest.NewProblem(err, nil, format, args...)
	}
	return manifest.Problemf(err, format, args...)
}

var _ manifest.Source = (*Reader)(nil)
