package generate

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Bad cases of the Microchip, Espressif and generated formats, besides
// BadExpired, BadUnknownCA, BadPrivateKey and BadDuplicateCert, which they
// share with the Infineon formats.
const (
	BadTamperedPayload BadCase = "tampered-payload"    // Microchip: payload changed after signing
	BadUnknownSigner   BadCase = "unknown-signer"      // Microchip: signed by a key no --signer file holds
	BadSignerTime      BadCase = "signer-not-valid"    // Microchip: provisioned before the signer was valid
	BadHeaderUniqueID  BadCase = "header-unique-id"    // Microchip: the unprotected header names another chip
	BadWrongCA         BadCase = "wrong-ca"            // Microchip: x5c's CA did not sign the device certificate
	BadNoCertificate   BadCase = "no-certificate"      // Microchip: a signed payload without publicKeySet
	BadDuplicateUID    BadCase = "duplicate-unique-id" // Microchip: the first good chip's uniqueId
	BadMAC             BadCase = "bad-mac"             // Espressif: a MAC that is not 12 hex characters
	BadDuplicateMAC    BadCase = "duplicate-mac"       // Espressif: the first good chip's MAC
	BadColumns         BadCase = "wrong-columns"       // Espressif: a row with a column too many
	BadNoPEM           BadCase = "no-pem"              // Espressif, generated: no PEM certificate
	BadBase64          BadCase = "not-base64"          // generated: a line that is not base64
)

// The bad cases of each format other than the Infineon ones, in order.
var (
	microchipCases = []BadCase{BadTamperedPayload, BadExpired, BadUnknownSigner, BadWrongCA, BadPrivateKey,
		BadSignerTime, BadHeaderUniqueID, BadNoCertificate, BadDuplicateUID}
	espressifCases = []BadCase{BadMAC, BadExpired, BadUnknownCA, BadNoPEM, BadPrivateKey, BadDuplicateMAC, BadColumns}
	generatedCases = []BadCase{BadBase64, BadExpired, BadUnknownCA, BadPrivateKey, BadNoPEM, BadDuplicateCert}
)

// CasesFor returns the bad cases Write makes for a format, in the order
// Options.Bad adds them; nil for an unknown format.
func CasesFor(format string) []BadCase {
	switch format {
	case FormatInfineon, FormatXML, "":
		return BadCases
	case FormatMicrochip:
		return microchipCases
	case FormatEspressif:
		return espressifCases
	case FormatGenerated:
		return generatedCases
	}
	return nil
}

// Cycle returns n bad cases of format: its cases in order, over again
// when n is more than there are.
func Cycle(format string, n int) []BadCase {
	all := CasesFor(format)
	if len(all) == 0 {
		return nil
	}
	out := make([]BadCase, n)
	for i := range out {
		out[i] = all[i%len(all)]
	}
	return out
}

// Signer is a test Microchip manifest signer: a self-signed P-256
// certificate with a subject key identifier, and its key.
type Signer struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// signerFrom and signerUntil bound the test signers' validity; the
// entries are provisioned at provisioned.
var (
	signerFrom  = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	signerUntil = time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)
	provisioned = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// NewSigner makes a fresh test manifest signer named cn.
func NewSigner(cn string) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	skid := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"thingpress test"}, CommonName: cn},
		NotBefore:             signerFrom,
		NotAfter:              signerUntil,
		SubjectKeyId:          skid[:20],
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create signer: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Signer{Cert: cert, Key: key}, nil
}

// PEM returns the signer certificate as PEM, for --signer.
func (s *Signer) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Cert.Raw})
}

// header returns the base64url protected header of the signer's entries.
func (s *Signer) header() string {
	sum := sha256.Sum256(s.Cert.Raw)
	h, _ := json.Marshal(struct { // strings only: does not fail
		Typ string `json:"typ"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		X5t string `json:"x5t#S256"`
	}{"JWT", "ES256", base64.RawURLEncoding.EncodeToString(s.Cert.SubjectKeyId), base64.RawURLEncoding.EncodeToString(sum[:])})
	return base64.RawURLEncoding.EncodeToString(h)
}

// sign returns the raw r||s ES256 signature of protected.payload.
func (s *Signer) sign(protected, payload string) (string, error) {
	sum := sha256.Sum256([]byte(protected + "." + payload))
	r, ss, err := ecdsa.Sign(rand.Reader, s.Key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// UniqueID returns the Microchip uniqueId of device i of a reel: 18
// lower-case hex characters starting 0123, as Microchip's serial numbers.
func UniqueID(reelID string, i int) string {
	return "0123" + strings.ToLower(ChipID(reelID, i)[:2]) + fmt.Sprintf("%012x", i)
}

// MAC returns the Espressif MAC of device i of a reel: 12 lower-case hex
// characters.
func MAC(reelID string, i int) string {
	return strings.ToLower(ChipID(reelID, i)[:4]) + fmt.Sprintf("%08x", i)
}

type mcKey struct {
	Kid string   `json:"kid"`
	Kty string   `json:"kty"`
	Crv string   `json:"crv"`
	X   string   `json:"x"`
	Y   string   `json:"y"`
	D   string   `json:"d,omitempty"`
	X5c []string `json:"x5c,omitempty"`
}

type mcKeySet struct {
	Keys []mcKey `json:"keys"`
}

type mcPayload struct {
	Version               int       `json:"version"`
	Model                 string    `json:"model"`
	PartNumber            string    `json:"partNumber"`
	GroupID               string    `json:"groupId"`
	ProvisioningTimestamp string    `json:"provisioningTimestamp"`
	UniqueID              string    `json:"uniqueId"`
	PublicKeySet          *mcKeySet `json:"publicKeySet,omitempty"`
}

type mcHeader struct {
	UniqueID string `json:"uniqueId"`
}

type mcEntry struct {
	Protected string    `json:"protected"`
	Payload   string    `json:"payload"`
	Signature string    `json:"signature"`
	Header    *mcHeader `json:"header,omitempty"`
}

// mcWriter makes the entries of a Microchip manifest.
type mcWriter struct {
	g        *generator
	signer   *Signer
	fast     *fastIssuer
	protectd string // the signer's protected header
	caB64    string // x5c[1]: the device CA
	x, y     string // the shared leaf key's coordinates
}

// payload returns the payload of chip uid whose device certificate is der
// and whose x5c CA is caB64.
func (w *mcWriter) payload(uid string, der []byte, caB64 string) mcPayload {
	keys := []mcKey{{Kid: "0", Kty: "EC", Crv: "P-256", X: w.x, Y: w.y,
		X5c: []string{base64.StdEncoding.EncodeToString(der), caB64}}}
	for i := 1; i < 5; i++ {
		keys = append(keys, mcKey{Kid: fmt.Sprint(i), Kty: "EC", Crv: "P-256", X: w.x, Y: w.y})
	}
	return mcPayload{
		Version: 1, Model: "ATECC608C", PartNumber: "ATECC608C-TNGTLSU-B", GroupID: "THINGPRESSTEST001",
		ProvisioningTimestamp: provisioned.Format("2006-01-02T15:04:05.000Z"), UniqueID: uid,
		PublicKeySet: &mcKeySet{Keys: keys},
	}
}

// entry signs p with s (the manifest's signer when nil) under the
// unprotected header uid and returns the JSON of the entry.
func (w *mcWriter) entry(p mcPayload, s *Signer, uid string) ([]byte, error) {
	if s == nil {
		s = w.signer
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	e := mcEntry{Protected: w.protectd, Payload: base64.RawURLEncoding.EncodeToString(body), Header: &mcHeader{uid}}
	if s != w.signer {
		e.Protected = s.header()
	}
	if e.Signature, err = s.sign(e.Protected, e.Payload); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

func (w *mcWriter) good(i int) ([]byte, error) {
	uid := UniqueID(w.g.o.ReelID, i)
	der, err := w.fast.issue("sn" + strings.ToUpper(uid))
	if err != nil {
		return nil, err
	}
	return w.entry(w.payload(uid, der, w.caB64), nil, uid)
}

func (w *mcWriter) bad(k int, c BadCase, unknown *CA) ([]byte, error) {
	o := w.g.o
	uid := UniqueID(o.ReelID, o.N+k)
	im := o.CA.Intermediate
	issue := func(ca *CA, lo LeafOptions) ([]byte, error) {
		lo.CommonName = "sn" + strings.ToUpper(uid)
		l, err := ca.Issue(lo)
		if err != nil {
			return nil, err
		}
		return l.Cert.Raw, nil
	}
	der, err := issue(im, LeafOptions{})
	if err != nil {
		return nil, err
	}
	p := w.payload(uid, der, w.caB64)
	switch c {
	case BadTamperedPayload:
		e, err := w.entry(p, nil, uid)
		if err != nil {
			return nil, err
		}
		var je mcEntry
		if err := json.Unmarshal(e, &je); err != nil {
			return nil, err
		}
		p.PartNumber = "ATECC608C-TAMPERED"
		body, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		je.Payload = base64.RawURLEncoding.EncodeToString(body)
		return json.Marshal(je)
	case BadExpired:
		if der, err = issue(im, LeafOptions{NotBefore: expiredFrom, NotAfter: expiredUntil}); err != nil {
			return nil, err
		}
		return w.entry(w.payload(uid, der, w.caB64), nil, uid)
	case BadUnknownSigner:
		other, err := NewSigner("thingpress unknown manifest signer")
		if err != nil {
			return nil, err
		}
		return w.entry(p, other, uid)
	case BadWrongCA:
		if der, err = issue(unknown, LeafOptions{}); err != nil {
			return nil, err
		}
		return w.entry(w.payload(uid, der, w.caB64), nil, uid)
	case BadPrivateKey:
		p.PublicKeySet.Keys[1].D = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5A}, 32))
		return w.entry(p, nil, uid)
	case BadSignerTime:
		p.ProvisioningTimestamp = signerFrom.AddDate(-1, 0, 0).Format("2006-01-02T15:04:05.000Z")
		return w.entry(p, nil, uid)
	case BadHeaderUniqueID:
		return w.entry(p, nil, UniqueID(o.ReelID, o.N+k+1_000_000))
	case BadNoCertificate:
		p.Version, p.PublicKeySet = 2, nil
		return w.entry(p, nil, uid)
	case BadDuplicateUID:
		first := UniqueID(o.ReelID, 0)
		p.UniqueID = first
		return w.entry(p, nil, first)
	}
	return nil, fmt.Errorf("%w: %s for the %s format", ErrCase, c, o.Format)
}

// microchip writes a Microchip manifest: a JSON array, one entry a line.
func (g *generator) microchip(path string) error {
	s := g.o.Signer
	if s == nil {
		var err error
		if s, err = NewSigner("thingpress test manifest signer"); err != nil {
			return err
		}
	}
	g.res.Signer = s
	fast, err := newFastIssuer(g.o.CA.Intermediate, len("sn")+len(UniqueID("", 0)))
	if err != nil {
		return err
	}
	leafKey, ok := fast.publicKey().(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("the shared leaf key is not ECDSA")
	}
	pub, err := leafKey.Bytes()
	if err != nil {
		return err
	}
	w := &mcWriter{g: g, signer: s, fast: fast, protectd: s.header(),
		caB64: base64.StdEncoding.EncodeToString(g.o.CA.Intermediate.Cert.Raw),
		x:     base64.RawURLEncoding.EncodeToString(pub[1:33]), y: base64.RawURLEncoding.EncodeToString(pub[33:])}
	return g.lines(path, "[\n", ",\n", "\n]\n", w.good, func(k int, c BadCase, unknown *CA) ([]byte, string, error) {
		b, err := w.bad(k, c, unknown)
		return b, UniqueID(g.o.ReelID, g.o.N+k), err
	})
}

// espressif writes an Espressif CSV manifest.
func (g *generator) espressif(path string) error {
	row := func(mac, cn, cert string) []byte {
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		_ = cw.Write([]string{mac, cn, cert}) // a bytes.Buffer does not fail
		cw.Flush()
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	// cn is what Espressif puts in the cn column: a UUID.
	cn := func(i int) string {
		u := CommonName(g.o.ReelID, MAC(g.o.ReelID, i), "cn")
		return u[:8] + "-" + u[8:12] + "-4" + u[13:16] + "-a" + u[17:20] + "-" + u[20:32]
	}
	pemText := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	good := func(i int) ([]byte, error) {
		mac := MAC(g.o.ReelID, i)
		der, err := g.fast.issue(CommonName(g.o.ReelID, mac, "ESP"))
		if err != nil {
			return nil, err
		}
		return row(mac, cn(i), pemText(der)), nil
	}
	bad := func(k int, c BadCase, unknown *CA) ([]byte, string, error) {
		i := g.o.N + k
		mac := MAC(g.o.ReelID, i)
		cert, err := g.badCert(c, CommonName(g.o.ReelID, mac, "ESP"), unknown)
		if err != nil {
			return nil, "", err
		}
		switch c {
		case BadMAC:
			mac = "zz" + mac[2:]
		case BadNoPEM:
			cert = "not a certificate"
		case BadDuplicateMAC:
			mac = MAC(g.o.ReelID, 0)
		case BadColumns:
			return append(row(mac, cn(i), cert), ",extra"...), mac, nil
		}
		return row(mac, cn(i), cert), mac, nil
	}
	return g.lines(path, "MAC,cn,cert\n", "\n", "\n", good, bad)
}

// generated writes a generated certificate list: each line the base64
// of the device certificate's PEM and the device CA's.
func (g *generator) generated(path string) error {
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.o.CA.Intermediate.Cert.Raw})
	line := func(text []byte) []byte {
		return []byte(base64.StdEncoding.EncodeToString(text))
	}
	good := func(i int) ([]byte, error) {
		der, err := g.fast.issue(CommonName(g.o.ReelID, ChipID(g.o.ReelID, i), "generated"))
		if err != nil {
			return nil, err
		}
		if i == 0 {
			g.first = device{entries: [][]byte{der}}
		}
		return line(append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), chain...)), nil
	}
	bad := func(k int, c BadCase, unknown *CA) ([]byte, string, error) {
		cn := CommonName(g.o.ReelID, ChipID(g.o.ReelID, g.o.N+k), "generated")
		switch c {
		case BadBase64:
			return []byte("this line is not base64!"), cn, nil
		case BadNoPEM:
			return line([]byte("no certificate here\n")), cn, nil
		case BadDuplicateCert:
			return line(append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.first.entries[0]}), chain...)), cn, nil
		}
		cert, err := g.badCert(c, cn, unknown)
		if err != nil {
			return nil, "", err
		}
		return line(append([]byte(cert), chain...)), cn, nil
	}
	return g.lines(path, "", "\n", "\n", good, bad)
}

// badCert returns the PEM text of a device certificate named cn for the
// certificate cases the Espressif and generated formats share; the others
// get a good certificate, spoilt elsewhere.
func (g *generator) badCert(c BadCase, cn string, unknown *CA) (string, error) {
	ca, lo := g.o.CA.Intermediate, LeafOptions{CommonName: cn}
	switch c {
	case BadExpired:
		lo.NotBefore, lo.NotAfter = expiredFrom, expiredUntil
	case BadUnknownCA:
		ca = unknown
	}
	l, err := ca.Issue(lo)
	if err != nil {
		return "", err
	}
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.Cert.Raw}))
	if c == BadPrivateKey {
		cert += string(l.KeyPEM())
	}
	return cert, nil
}

// lines writes a manifest of one entry per good device (made by good, in
// parallel) and then one per bad case (made by bad, which also returns
// the chip's ID), between head and tail and separated by sep.
func (g *generator) lines(path, head, sep, tail string, good func(i int) ([]byte, error),
	bad func(k int, c BadCase, unknown *CA) ([]byte, string, error)) error {
	return createBuffered(path, func(w *bufio.Writer) error {
		return g.writeLines(w, head, sep, tail, good, bad)
	})
}

func (g *generator) writeLines(w *bufio.Writer, head, sep, tail string, good func(i int) ([]byte, error),
	bad func(k int, c BadCase, unknown *CA) ([]byte, string, error)) error {
	_, _ = w.WriteString(head)
	n := 0
	put := func(e []byte) {
		if n > 0 {
			_, _ = w.WriteString(sep)
		}
		_, _ = w.Write(e)
		n++
	}
	// Device 0 first, alone: the duplicate cases copy it.
	if g.o.N > 0 {
		e, err := good(0)
		if err != nil {
			return err
		}
		put(e)
	}
	err := parallel(g.o.N-1, g.o.Workers, func(lo, hi int) ([][]byte, error) {
		out := make([][]byte, 0, hi-lo)
		for i := lo + 1; i < hi+1; i++ {
			e, err := good(i)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}, func(es [][]byte) error {
		for _, e := range es {
			put(e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	g.res.ChipIDs = n
	if g.o.Bad {
		unknown, err := NewRoot("thingpress unknown CA")
		if err != nil {
			return err
		}
		for k, c := range g.o.Cases {
			e, id, err := bad(k, c, unknown)
			if err != nil {
				return fmt.Errorf("bad case %s: %w", c, err)
			}
			put(e)
			g.res.Bad = append(g.res.Bad, BadDevice{ChipID: id, Case: c})
			g.res.ChipIDs++
		}
	}
	_, _ = w.WriteString(tail)
	return nil
}
