package generate

import (
	"bufio"
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
)

// Formats Write can write.
const (
	FormatInfineon  = "infineon"  // the 7z reel bundle
	FormatXML       = "xml"       // the documented XML manifest
	FormatMicrochip = "microchip" // a JSON array of JWS entries signed by a test signer
	FormatEspressif = "espressif" // a CSV of MAC,cn,cert
	FormatGenerated = "generated" // one base64 PEM text per line
)

// Formats lists the formats Write can write.
var Formats = []string{FormatInfineon, FormatXML, FormatMicrochip, FormatEspressif, FormatGenerated}

// BadCase names a way a device of a generated manifest is wrong.
type BadCase string

// The bad devices Options.Bad adds, one chip each (in every slot). Each
// is made in both formats; where a format cannot carry the fault as such,
// the comment says what stands in for it.
const (
	BadTwoCerts      BadCase = "two-certificates"      // two CERTIFICATE blocks in the entry
	BadPrivateKey    BadCase = "private-key"           // the entry also holds an EC PRIVATE KEY block
	BadExpired       BadCase = "expired"               // NotAfter in the past
	BadNotYetValid   BadCase = "not-yet-valid"         // NotBefore ten years ahead
	BadUnknownCA     BadCase = "unknown-ca"            // signed by a CA not in the CA file
	BadNoCN          BadCase = "no-cn"                 // subject without CN
	BadCNSpace       BadCase = "cn-space"              // CN with a space: not a thing name
	BadCNTooLong     BadCase = "cn-too-long"           // CN of 129 characters: not a thing name
	BadDuplicateCert BadCase = "duplicate-certificate" // same DER as the first good chip
	BadDuplicateName BadCase = "duplicate-thing-name"  // other certificate, same CN as the first good chip

	// Certificates that chain but are no device certificate.
	BadCACertificate   BadCase = "ca-certificate"   // BasicConstraints CA:TRUE
	BadKeyCertSignOnly BadCase = "keycertsign-only" // KeyUsage keyCertSign without digitalSignature
	BadCodeSigningEKU  BadCase = "codesigning-eku"  // ExtKeyUsage codeSigning only
	BadTwoCNs          BadCase = "two-cns"          // a second CN after the first
	BadEd25519Key      BadCase = "ed25519-key"      // an Ed25519 key
	BadRSA1024Key      BadCase = "rsa-1024-key"     // an RSA key of 1024 bits
	BadSHA1Signature   BadCase = "sha1-signature"   // signed ECDSA with SHA-1 (crypto/x509 still signs it; it only refuses to verify it)

	// Issuers in the CA file that may not issue.
	BadExpiredIntermediate BadCase = "expired-intermediate" // issued by PKI.Expired, which expired in 2021
	BadNonCAIntermediate   BadCase = "non-ca-intermediate"  // issued by PKI.NotCA, which has no CA:TRUE

	// Chip IDs. The Infineon format takes chip IDs from member names of 1
	// to 64 hex characters, so it stands in 64 hex characters for the
	// too-long ID and 19 for the path.
	BadChipIDTooLong   BadCase = "chip-id-too-long"  // XML: a chipId of 5,000 hex characters
	BadChipID          BadCase = "bad-chip-id"       // XML: chipId "../../etc/passwd"
	BadDuplicateChipID BadCase = "duplicate-chip-id" // first good chip's ID, other certificate and CN (Infineon: in a subfolder)

	// Private key material in other forms.
	BadKeyLowerCase BadCase = "private-key-lowercase" // "ec private key" block
	BadKeyPKCS8     BadCase = "private-key-pkcs8"     // PRIVATE KEY block
	BadKeyRSA       BadCase = "private-key-rsa"       // RSA PRIVATE KEY block
	BadKeyEncrypted BadCase = "private-key-encrypted" // ENCRYPTED PRIVATE KEY block
	BadKeyBase64    BadCase = "private-key-base64"    // bare base64 of the key after the certificate
	BadKeyDER       BadCase = "private-key-der"       // Infineon: raw DER after the PEM; XML: glued to the base64-der certificate
	BadKeyElsewhere BadCase = "private-key-element"   // XML: a PrivateKey element of the Device; Infineon: base64 before the certificate
	BadKeyAttribute BadCase = "private-key-attribute" // XML: a Device attribute; Infineon: a PEM header of the certificate block
)

// BadCases lists every BadCase of the Infineon formats (FormatInfineon and
// FormatXML) in the order the bad chips are added.
var BadCases = []BadCase{
	BadTwoCerts, BadPrivateKey, BadExpired, BadNotYetValid, BadUnknownCA,
	BadNoCN, BadCNSpace, BadCNTooLong, BadDuplicateCert, BadDuplicateName,
	BadCACertificate, BadKeyCertSignOnly, BadCodeSigningEKU, BadTwoCNs, BadEd25519Key, BadRSA1024Key, BadSHA1Signature,
	BadExpiredIntermediate, BadNonCAIntermediate,
	BadChipIDTooLong, BadChipID, BadDuplicateChipID,
	BadKeyLowerCase, BadKeyPKCS8, BadKeyRSA, BadKeyEncrypted, BadKeyBase64, BadKeyDER, BadKeyElsewhere, BadKeyAttribute,
}

// Options shape a generated manifest.
type Options struct {
	N      int      // good devices
	Format string   // one of Formats; empty means FormatInfineon
	Slots  []string // Infineon only: certificate slots; nil means manifest.Slots
	// Bad adds one bad device per case of CasesFor(Format) after the good
	// ones.
	Bad bool
	// Cases, when set with Bad, are the bad cases to add instead, in this
	// order; a case may come more than once.
	Cases []BadCase
	// Seed, when set, makes the reel and batch IDs, and so every chip ID,
	// MAC, uniqueId and CN, the same from run to run; the keys and
	// signatures still differ.
	Seed    string
	ReelID  string // 16 hex characters; empty means random (or from Seed)
	BatchID string // a UUID; empty means random (or from Seed)
	// Level is the 7z compression level; 0 means 5 up to 10,000 devices
	// and 1 (fast) above.
	Level int
	// Workers sign in parallel; 0 means runtime.NumCPU().
	Workers int
	// TempDir holds the PEM files while 7z packs them; empty means
	// os.TempDir().
	TempDir string
	// CA signs the good devices; nil means a fresh root and intermediate.
	CA *PKI
	// Signer signs a Microchip manifest's entries; nil means a fresh one.
	Signer *Signer
	// Progress, if set, receives a line per step with its time.
	Progress io.Writer
}

// PKI is a test root CA and the intermediate that signs device
// certificates, with two intermediates of the root that may not issue
// devices, for the bad cases.
type PKI struct {
	Root, Intermediate *CA
	// Expired expired on 2021-01-01; NotCA lacks BasicConstraints CA:TRUE.
	Expired, NotCA *CA
}

// NewPKI makes a fresh root and intermediate, on P-256. Write adds
// the refused intermediates when it makes bad devices.
func NewPKI() (*PKI, error) { return NewPKIOn(nil) }

// NewPKIOn makes a fresh root and intermediate whose keys are on curve
// (nil: P-256).
func NewPKIOn(curve elliptic.Curve) (*PKI, error) {
	o := CAOptions{Curve: curve}
	root, err := NewRootWith("thingpress test root CA", o)
	if err != nil {
		return nil, err
	}
	im, err := root.NewIntermediateWith("thingpress test device CA", o)
	if err != nil {
		return nil, err
	}
	return &PKI{Root: root, Intermediate: im}, nil
}

var refusedMu sync.Mutex

// addRefused makes the intermediates that may not issue, if missing.
func (p *PKI) addRefused() error {
	refusedMu.Lock()
	defer refusedMu.Unlock()
	var err error
	if p.Expired == nil {
		p.Expired, err = p.Root.NewIntermediateWith("thingpress test expired CA",
			CAOptions{NotBefore: expiredFrom, NotAfter: expiredUntil})
		if err != nil {
			return err
		}
	}
	if p.NotCA == nil {
		p.NotCA, err = p.Root.NewIntermediateWith("thingpress test non-CA issuer", CAOptions{NotCA: true})
	}
	return err
}

// PEM returns the CA file for --trust: the root, the intermediate and, if
// made, the expired and the non-CA intermediate (which thingpress refuses
// as anchors, but names when a device they issued is checked).
func (p *PKI) PEM() []byte {
	var b bytes.Buffer
	for _, ca := range []*CA{p.Root, p.Intermediate, p.Expired, p.NotCA} {
		if ca != nil {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}) // a bytes.Buffer does not fail
		}
	}
	return b.Bytes()
}

// Fixed validity periods of the expired and the not yet valid devices, so
// that what inspect says of them does not change from day to day.
var (
	expiredFrom  = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	expiredUntil = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	futureFrom   = time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC)
	futureUntil  = time.Date(2110, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Errors of Write's options.
var (
	ErrFormat       = errors.New("unknown format")
	ErrCase         = errors.New("bad case not made")
	ErrNoGoodDevice = errors.New("bad devices need at least one good device")
)

// BadDevice says which chip carries which bad case.
type BadDevice struct {
	ChipID string
	Case   BadCase
}

// Result describes a generated manifest.
type Result struct {
	Path    string
	ReelID  string
	BatchID string
	Slots   []string
	ChipIDs int // good and bad chips
	PKI     *PKI
	Signer  *Signer // Microchip only
	Bad     []BadDevice
}

// ChipID returns the chip ID of device i of a reel: 20 upper-case hex
// characters, unique per reel.
func ChipID(reelID string, i int) string {
	sum := sha256.Sum256([]byte(reelID))
	return fmt.Sprintf("%s%012X", strings.ToUpper(hex.EncodeToString(sum[:4])), i)
}

// CommonName returns the CN of a chip's certificate in a slot: 64
// lower-case hex characters, as Infineon's.
func CommonName(reelID, chipID, slot string) string {
	sum := sha256.Sum256([]byte(reelID + "/" + chipID + "/" + slot))
	return hex.EncodeToString(sum[:])
}

// Write writes a synthetic manifest of o.N devices to path.
func Write(path string, o Options) (*Result, error) {
	if o.N < 0 || o.N > 100_000_000 {
		return nil, fmt.Errorf("device count %d out of range", o.N)
	}
	if o.Bad && o.N < 1 {
		return nil, ErrNoGoodDevice
	}
	if o.Format == "" {
		o.Format = FormatInfineon
	}
	if !slices.Contains(Formats, o.Format) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrFormat, o.Format, strings.Join(Formats, ", "))
	}
	if o.Bad {
		if o.Cases == nil {
			o.Cases = CasesFor(o.Format)
		}
		for _, c := range o.Cases {
			if !slices.Contains(CasesFor(o.Format), c) {
				return nil, fmt.Errorf("%w: %s for the %s format", ErrCase, c, o.Format)
			}
		}
	}
	if o.Slots == nil {
		o.Slots = manifest.Slots
	}
	for _, s := range o.Slots {
		if !manifest.ValidSlot(s) {
			return nil, fmt.Errorf("slot %q: %w", s, manifest.ErrBadSlot)
		}
	}
	if o.ReelID == "" {
		o.ReelID = strings.ToUpper(seedHex(o.Seed, "reel", 8))
	}
	if o.BatchID == "" {
		u := seedHex(o.Seed, "batch", 16)
		o.BatchID = u[:8] + "-" + u[8:12] + "-4" + u[13:16] + "-a" + u[17:20] + "-" + u[20:]
	}
	if o.Level == 0 {
		o.Level = 5
		if o.N > 10_000 {
			o.Level = 1
		}
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.CA == nil {
		p, err := NewPKI()
		if err != nil {
			return nil, err
		}
		o.CA = p
	}
	if o.Bad && (o.Format == FormatInfineon || o.Format == FormatXML) {
		if err := o.CA.addRefused(); err != nil {
			return nil, err
		}
	}
	g := &generator{start: time.Now(), o: o, res: &Result{Path: path, ReelID: o.ReelID, BatchID: o.BatchID, Slots: o.Slots, PKI: o.CA}}
	var err error
	if g.fast, err = newFastIssuer(o.CA.Intermediate, cnLen); err != nil {
		return nil, err
	}
	switch o.Format {
	case FormatInfineon:
		err = g.infineon(path)
	case FormatXML:
		err = g.xml(path)
	case FormatMicrochip:
		err = g.microchip(path)
	case FormatEspressif:
		err = g.espressif(path)
	case FormatGenerated:
		err = g.generated(path)
	}
	if err != nil {
		return nil, err
	}
	return g.res, nil
}

func (g *generator) progress(format string, a ...any) {
	if g.o.Progress != nil {
		fmt.Fprintf(g.o.Progress, "%8.1fs  %s\n", time.Since(g.start).Seconds(), fmt.Sprintf(format, a...))
	}
}

// seedHex returns 2n hex characters: random when seed is empty, else
// derived from seed and label.
func seedHex(seed, label string, n int) string {
	b := make([]byte, n)
	if seed == "" {
		rand.Read(b)
	} else {
		sum := sha256.Sum256([]byte("thingpress generate/" + seed + "/" + label))
		copy(b, sum[:])
	}
	return hex.EncodeToString(b)
}

type generator struct {
	start time.Time
	o     Options
	fast  *fastIssuer
	res   *Result
	// first is good chip 0 as written, for the duplicates. The worker
	// that makes it sets it; it is read after all workers are done.
	first device
}

// device is one chip's entries, per slot, in o.Slots order.
type device struct {
	chipID  string
	entries [][]byte // PEM text (CRLF), or DER when der is set
	der     bool     // entries are bare DER (good devices only)
	// dir is the Infineon member's folder in the inner archive.
	dir string
	// xmlB64 writes the entries as base64-der Certificate elements, and
	// xmlExtra and xmlAttrs add to the XML Device element.
	xmlB64             bool
	xmlExtra, xmlAttrs string
}

// good makes the certificates of good chip i.
func (g *generator) good(i int) (device, error) {
	d := device{chipID: ChipID(g.o.ReelID, i), der: true}
	for _, s := range g.o.Slots {
		der, err := g.fast.issue(CommonName(g.o.ReelID, d.chipID, s))
		if err != nil {
			return d, err
		}
		d.entries = append(d.entries, der)
	}
	if i == 0 {
		g.first = d
	}
	return d, nil
}

// bad makes the entries of the bad chips, numbered after the good ones.
func (g *generator) bad() ([]device, error) {
	if !g.o.Bad {
		return nil, nil
	}
	unknown, err := NewRoot("thingpress unknown CA")
	if err != nil {
		return nil, err
	}
	xml := g.o.Format == FormatXML
	var out []device
	for k, c := range g.o.Cases {
		chip := ChipID(g.o.ReelID, g.o.N+k)
		d := device{chipID: chip}
		switch c {
		case BadChipIDTooLong:
			d.chipID = strings.Repeat(chip, 250) // 5,000 characters
			if !xml {
				d.chipID = d.chipID[:64]
			}
		case BadChipID:
			d.chipID = "../../etc/passwd"
			if !xml {
				d.chipID = chip[:19]
			}
		case BadDuplicateChipID:
			d.chipID = g.first.chipID
			d.dir = "again"
			if k != slices.Index(g.o.Cases, c) {
				d.dir += strconv.Itoa(k)
			}
		}
		for si, s := range g.o.Slots {
			e, err := g.badEntry(c, &d, k, si, s, unknown)
			if err != nil {
				return nil, fmt.Errorf("bad case %s: %w", c, err)
			}
			d.entries = append(d.entries, e)
		}
		out = append(out, d)
		g.res.Bad = append(g.res.Bad, BadDevice{ChipID: d.chipID, Case: c})
	}
	return out, nil
}

// badEntry makes the entry of bad chip d, the k-th bad one, in slot s
// (index si) for case c.
func (g *generator) badEntry(c BadCase, d *device, k, si int, s string, unknown *CA) ([]byte, error) {
	first := g.first
	im := g.o.CA.Intermediate
	xml := g.o.Format == FormatXML
	// Names derive from the chip's own number, whatever its ID.
	cn := CommonName(g.o.ReelID, ChipID(g.o.ReelID, g.o.N+k), s)
	leaf := func(ca *CA, lo LeafOptions) (*Leaf, error) {
		if lo.CommonName == "" {
			lo.CommonName = cn
		}
		return ca.Issue(lo)
	}
	issue := func(ca *CA, lo LeafOptions) ([]byte, error) {
		l, err := leaf(ca, lo)
		if err != nil {
			return nil, err
		}
		return PEM(l.Cert), nil
	}
	// withKey returns the certificate's PEM and the key's DER.
	withKey := func(kind string) ([]byte, []byte, *Leaf, error) {
		l, err := leaf(im, LeafOptions{Key: kind})
		if err != nil {
			return nil, nil, nil, err
		}
		return PEM(l.Cert), l.KeyDER(), l, nil
	}
	keyBlock := func(typ string, der []byte) []byte {
		return crlf(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	switch c {
	case BadTwoCerts:
		a, err := issue(im, LeafOptions{})
		if err != nil {
			return nil, err
		}
		b, err := issue(im, LeafOptions{CommonName: cn[:63] + "x"})
		if err != nil {
			return nil, err
		}
		return append(a, b...), nil
	case BadPrivateKey:
		l, err := im.Issue(LeafOptions{CommonName: cn})
		if err != nil {
			return nil, err
		}
		return append(PEM(l.Cert), crlf(l.KeyPEM())...), nil
	case BadExpired:
		return issue(im, LeafOptions{NotBefore: expiredFrom, NotAfter: expiredUntil})
	case BadNotYetValid:
		return issue(im, LeafOptions{NotBefore: futureFrom, NotAfter: futureUntil})
	case BadUnknownCA:
		return issue(unknown, LeafOptions{})
	case BadNoCN:
		return issue(im, LeafOptions{CommonName: "-"})
	case BadCNSpace:
		return issue(im, LeafOptions{CommonName: "bad thing " + cn[:16]})
	case BadCNTooLong:
		return issue(im, LeafOptions{CommonName: cn + cn + "x"})
	case BadDuplicateCert:
		return PEM(mustParse(first.entries[si])), nil
	case BadDuplicateName:
		return issue(im, LeafOptions{CommonName: CommonName(g.o.ReelID, first.chipID, s)})
	case BadCACertificate:
		return issue(im, LeafOptions{IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign})
	case BadKeyCertSignOnly:
		return issue(im, LeafOptions{KeyUsage: x509.KeyUsageCertSign})
	case BadCodeSigningEKU:
		return issue(im, LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
	case BadTwoCNs:
		return issue(im, LeafOptions{SecondCN: cn[:32]})
	case BadEd25519Key:
		return issue(im, LeafOptions{Key: "ed25519"})
	case BadRSA1024Key:
		return issue(im, LeafOptions{Key: "rsa1024"})
	case BadSHA1Signature:
		return issue(im, LeafOptions{SignatureAlgorithm: x509.ECDSAWithSHA1})
	case BadExpiredIntermediate:
		return issue(g.o.CA.Expired, LeafOptions{})
	case BadNonCAIntermediate:
		return issue(g.o.CA.NotCA, LeafOptions{})
	case BadChipIDTooLong, BadChipID, BadDuplicateChipID:
		return issue(im, LeafOptions{})
	case BadKeyLowerCase:
		cert, key, _, err := withKey("")
		return append(cert, keyBlock("ec private key", key)...), err
	case BadKeyPKCS8:
		cert, _, l, err := withKey("")
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(l.Key)
		return append(cert, keyBlock("PRIVATE KEY", der)...), err
	case BadKeyRSA:
		cert, key, _, err := withKey("rsa2048")
		if err != nil {
			return nil, err
		}
		der := x509.MarshalPKCS1PrivateKey(mustRSA(key))
		return append(cert, keyBlock("RSA PRIVATE KEY", der)...), nil
	case BadKeyEncrypted:
		cert, key, _, err := withKey("")
		// Stands in for an encrypted PKCS #8 key: the block's type is
		// what gives it away.
		return append(cert, keyBlock("ENCRYPTED PRIVATE KEY", key)...), err
	case BadKeyBase64:
		cert, key, _, err := withKey("")
		return append(cert, base64.StdEncoding.EncodeToString(key)+"\r\n"...), err
	case BadKeyDER:
		cert, key, l, err := withKey("")
		if err != nil {
			return nil, err
		}
		if xml {
			d.xmlB64 = true
			return append(bytes.Clone(l.Cert.Raw), key...), nil
		}
		return append(cert, key...), nil
	case BadKeyElsewhere:
		cert, key, _, err := withKey("")
		if xml {
			if si == 0 {
				d.xmlExtra = "<PrivateKey>" + base64.StdEncoding.EncodeToString(key) + "</PrivateKey>"
			}
			return cert, err
		}
		return append([]byte(base64.StdEncoding.EncodeToString(key)+"\r\n"), cert...), err
	case BadKeyAttribute:
		cert, key, l, err := withKey("")
		if err != nil {
			return nil, err
		}
		if xml {
			d.xmlAttrs = fmt.Sprintf(" key=%q", base64.StdEncoding.EncodeToString(key))
			return cert, nil
		}
		return crlf(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.Cert.Raw,
			Headers: map[string]string{"Key": base64.StdEncoding.EncodeToString(key)}})), nil
	}
	return nil, fmt.Errorf("unknown bad case %q", c)
}

func mustRSA(pkcs8 []byte) *rsa.PrivateKey {
	k, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		panic(err) // our own fresh key
	}
	return k.(*rsa.PrivateKey)
}

func mustParse(der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err) // our own fresh certificate
	}
	return c
}

func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

func pemCRLF(der []byte) []byte {
	return crlf(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// batchSize is the number of devices one worker makes at a time.
const batchSize = 512

// parallel calls work for each batch [lo, hi) of n devices on workers
// goroutines and hands the results to emit in batch order, holding at
// most a few batches per worker in memory. It stops at the first error.
func parallel[T any](n, workers int, work func(lo, hi int) (T, error), emit func(T) error) error {
	type job struct {
		lo, hi int
		out    chan result[T]
	}
	jobs := make(chan job)
	order := make(chan chan result[T], 2*workers)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				v, err := work(j.lo, j.hi)
				j.out <- result[T]{v, err} // buffered: never blocks
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(jobs)
		for lo := 0; lo < n; lo += batchSize {
			// A job goes to a worker before its result channel is
			// queued, so every queued channel gets its result.
			j := job{lo: lo, hi: min(lo+batchSize, n), out: make(chan result[T], 1)}
			select {
			case jobs <- j:
			case <-done:
				return
			}
			select {
			case order <- j.out:
			case <-done:
				return
			}
		}
	}()
	var err error
	for ch := range order {
		r := <-ch
		err = r.err
		if err == nil {
			err = emit(r.v)
		}
		if err != nil {
			break
		}
	}
	close(done)
	go func() { // let the dispatcher's last queued results be dropped
		for ch := range order {
			<-ch
		}
	}()
	wg.Wait()
	return err
}

type result[T any] struct {
	v   T
	err error
}

// infineon writes the nested 7z bundle. It makes one slot at a time: while
// 7z packs a slot's PEM files, the next slot is being signed.
func (g *generator) infineon(path string) error {
	if _, err := lookPath7z(); err != nil {
		return err
	}
	tmpDir := g.o.TempDir
	if tmpDir == "" {
		tmpDir = fastTempDir(int64(g.o.N+len(g.o.Cases)) * int64(len(g.o.Slots)) * 1200)
	}
	tmp, err := os.MkdirTemp(tmpDir, "thingpress-generate-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	outerDir := filepath.Join(tmp, "outer")
	if err := os.Mkdir(outerDir, 0o755); err != nil {
		return err
	}
	prefix := g.o.ReelID + "_" + g.o.BatchID
	keys, err := os.Create(filepath.Join(tmp, "auto_keys.txt"))
	if err != nil {
		return err
	}
	defer keys.Close()
	kw := bufio.NewWriter(keys)

	var wg sync.WaitGroup
	errs := make([]error, len(g.o.Slots))
	defer wg.Wait()
	members := make([]string, 0, len(g.o.Slots)+2)
	for si, s := range g.o.Slots {
		dir := filepath.Join(tmp, s)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		// A generator for this slot alone: it shares the issuer, and
		// its first good chip is this slot's certificate of chip 0.
		sg := &generator{start: g.start, o: g.o, fast: g.fast, res: &Result{}}
		sg.o.Slots = []string{s}
		write := func(d device) error {
			e := d.entries[0]
			if d.der {
				e = pemCRLF(e)
			}
			sub := filepath.Join(dir, d.dir)
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(sub, d.chipID+"_"+s+".pem"), e, 0o644)
		}
		err := parallel(g.o.N, g.o.Workers, func(lo, hi int) ([]string, error) {
			ids := make([]string, 0, hi-lo)
			for i := lo; i < hi; i++ {
				d, err := sg.good(i)
				if err != nil {
					return nil, err
				}
				if err := write(d); err != nil {
					return nil, err
				}
				ids = append(ids, d.chipID)
			}
			return ids, nil
		}, func(ids []string) error {
			if si == 0 {
				for _, id := range ids {
					fmt.Fprintf(kw, "%s, %s\r\n", id, fakeKey(id))
				}
				g.res.ChipIDs += len(ids)
			}
			return nil
		})
		if err != nil {
			return err
		}
		bad, err := sg.bad()
		if err != nil {
			return err
		}
		for _, d := range bad {
			if err := write(d); err != nil {
				return err
			}
			if si == 0 {
				fmt.Fprintf(kw, "%s, %s\r\n", d.chipID, fakeKey(d.chipID))
				g.res.ChipIDs++
			}
		}
		if si == 0 {
			g.res.Bad = sg.res.Bad
		}
		name := prefix + "_" + s + "_Certs.7z"
		members = append(members, name)
		g.progress("signed and wrote slot %s in %s", s, dir)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[si] = Run7z(dir, filepath.Join(outerDir, name), ArchiveOptions{Level: g.o.Level}, "*")
			g.progress("packed %s", name)
			if err := os.RemoveAll(dir); errs[si] == nil {
				errs[si] = err
			}
		}()
	}
	if err := kw.Flush(); err != nil {
		return err
	}
	if err := keys.Close(); err != nil {
		return err
	}
	keysName := prefix + "_keys.7z"
	if err := Run7z(tmp, filepath.Join(outerDir, keysName), ArchiveOptions{Level: g.o.Level, Password: "transport-" + g.o.ReelID}, "auto_keys.txt"); err != nil {
		return err
	}
	members = append(members, keysName)
	if err := os.WriteFile(filepath.Join(outerDir, "README.txt"), []byte(readme), 0o644); err != nil {
		return err
	}
	members = append(members, "README.txt")
	g.progress("packed %s", keysName)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := Run7z(outerDir, path, ArchiveOptions{Level: g.o.Level}, members...); err != nil {
		return err
	}
	g.progress("packed %s", path)
	return nil
}

func lookPath7z() (string, error) {
	p, err := exec.LookPath(SevenZip)
	if err != nil {
		return "", fmt.Errorf("the infineon format needs the %s command (p7zip-full): %w", SevenZip, err)
	}
	return p, nil
}

func fakeKey(chipID string) string {
	sum := sha256.Sum256([]byte("pbs/" + chipID))
	return strings.ToUpper(hex.EncodeToString(sum[:16]))
}

const readme = "Synthetic reel bundle made by thingpress generate.\r\n" +
	"Its certificates are signed by a throw-away test CA: they are not Infineon's.\r\n" +
	"Layout as Infineon's: reelID_GUID_E0E0_Certs.7z, _E0E1_, _E0E2_, reelID_GUID_keys.7z.\r\n"

// createBuffered creates path and streams write's output into it through
// a 1 MiB buffer. A bufio.Writer keeps its first error, which the final
// Flush returns, so write may ignore the errors of its single writes.
func createBuffered(path string, write func(w *bufio.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		return err
	}
	return w.Flush()
}

// xml writes the XML manifest, streaming.
func (g *generator) xml(path string) error {
	return createBuffered(path, g.writeXML)
}

func (g *generator) writeXML(w *bufio.Writer) error {
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+
		"<CertificateManifest vendor=\"Infineon\" product=\"OPTIGA Trust M Express\" reelId=%q batchId=%q>\n",
		g.o.ReelID, g.o.BatchID)
	for _, s := range g.o.Slots {
		fmt.Fprintf(w, "  <CertificateChain slot=%q>\n", s)
		_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: g.o.CA.Intermediate.Cert.Raw})
		_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: g.o.CA.Root.Cert.Raw})
		_, _ = w.WriteString("  </CertificateChain>\n")
	}
	err := parallel(g.o.N, g.o.Workers, func(lo, hi int) ([]byte, error) {
		var b bytes.Buffer
		for i := lo; i < hi; i++ {
			d, err := g.good(i)
			if err != nil {
				return nil, err
			}
			g.xmlDevice(&b, d)
		}
		return b.Bytes(), nil
	}, func(b []byte) error {
		g.res.ChipIDs += bytes.Count(b, []byte("<Device "))
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	bad, err := g.bad()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, d := range bad {
		g.xmlDevice(&b, d)
		g.res.ChipIDs++
	}
	_, _ = w.Write(b.Bytes())
	_, _ = w.WriteString("</CertificateManifest>\n")
	return nil
}

// xmlDevice writes one Device element. Good devices carry slot E0E2 as
// base64 DER (as the spec's example) and the others as PEM; bad devices
// are PEM throughout.
func (g *generator) xmlDevice(b *bytes.Buffer, d device) {
	fmt.Fprintf(b, "  <Device chipId=%q%s>\n", d.chipID, d.xmlAttrs)
	for i, s := range g.o.Slots {
		e := d.entries[i]
		switch {
		case d.xmlB64:
			fmt.Fprintf(b, "    <Certificate slot=%q encoding=\"base64-der\">%s</Certificate>\n", s, base64.StdEncoding.EncodeToString(e))
		case d.der && s == "E0E2":
			fmt.Fprintf(b, "    <Certificate slot=%q encoding=\"base64-der\">%s</Certificate>\n", s, base64.StdEncoding.EncodeToString(e))
		case d.der:
			fmt.Fprintf(b, "    <Certificate slot=%q>%s</Certificate>\n", s,
				bytes.TrimSpace(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e})))
		default:
			fmt.Fprintf(b, "    <Certificate slot=%q>%s</Certificate>\n", s,
				bytes.TrimSpace(bytes.ReplaceAll(e, []byte("\r\n"), []byte("\n"))))
		}
	}
	if d.xmlExtra != "" {
		b.WriteString("    " + d.xmlExtra + "\n")
	}
	b.WriteString("  </Device>\n")
}
