package testbundle

import (
	"bufio"
	"bytes"
	"crypto/rand"
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
	"strings"
	"sync"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testpki"
)

// Formats Generate can write.
const (
	FormatInfineon = "infineon" // the 7z reel bundle
	FormatXML      = "xml"      // the documented XML manifest
)

// BadCase names a way a device of a generated manifest is wrong.
type BadCase string

// The bad devices Options.Bad adds, one chip each (in every slot).
const (
	BadTwoCerts      BadCase = "two-certificates"      // two CERTIFICATE blocks in the entry
	BadPrivateKey    BadCase = "private-key"           // the entry also holds a private key
	BadExpired       BadCase = "expired"               // NotAfter in the past
	BadNotYetValid   BadCase = "not-yet-valid"         // NotBefore in the future
	BadUnknownCA     BadCase = "unknown-ca"            // signed by a CA not in the CA file
	BadNoCN          BadCase = "no-cn"                 // subject without CN
	BadCNSpace       BadCase = "cn-space"              // CN with a space: not a thing name
	BadCNTooLong     BadCase = "cn-too-long"           // CN of 129 characters: not a thing name
	BadDuplicateCert BadCase = "duplicate-certificate" // same DER as the first good chip
	BadDuplicateName BadCase = "duplicate-thing-name"  // other certificate, same CN as the first good chip
)

// BadCases lists every BadCase in the order the bad chips are added.
var BadCases = []BadCase{
	BadTwoCerts, BadPrivateKey, BadExpired, BadNotYetValid, BadUnknownCA,
	BadNoCN, BadCNSpace, BadCNTooLong, BadDuplicateCert, BadDuplicateName,
}

// Options shape a generated manifest.
type Options struct {
	N       int      // good devices
	Format  string   // FormatInfineon (default) or FormatXML
	Slots   []string // certificate slots; nil means manifest.Slots
	Bad     bool     // add one bad device per BadCase after the good ones
	ReelID  string   // 16 hex characters; empty means random
	BatchID string   // a UUID; empty means random
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
	// Progress, if set, receives a line per step with its time.
	Progress io.Writer
}

// PKI is a test root CA and the intermediate that signs device
// certificates.
type PKI struct {
	Root, Intermediate *testpki.CA
}

// NewPKI makes a fresh root and intermediate.
func NewPKI() (*PKI, error) {
	root, err := testpki.NewRoot("thingpress test root CA")
	if err != nil {
		return nil, err
	}
	im, err := root.NewIntermediate("thingpress test device CA")
	if err != nil {
		return nil, err
	}
	return &PKI{Root: root, Intermediate: im}, nil
}

// PEM returns the root and the intermediate as PEM, for a --trust file.
func (p *PKI) PEM() []byte {
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: p.Root.Cert.Raw})
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: p.Intermediate.Cert.Raw})
	return b.Bytes()
}

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

// Generate writes a synthetic manifest of o.N devices to path.
func Generate(path string, o Options) (*Result, error) {
	if o.N < 0 || o.N > 100_000_000 {
		return nil, fmt.Errorf("device count %d out of range", o.N)
	}
	if o.Bad && o.N < 1 {
		return nil, errors.New("bad devices need at least one good device")
	}
	if o.Format == "" {
		o.Format = FormatInfineon
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
		o.ReelID = strings.ToUpper(randHex(8))
	}
	if o.BatchID == "" {
		u := randHex(16)
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
	g := &generator{start: time.Now(), o: o, res: &Result{Path: path, ReelID: o.ReelID, BatchID: o.BatchID, Slots: o.Slots, PKI: o.CA}}
	var err error
	if g.fast, err = newFastIssuer(o.CA.Intermediate); err != nil {
		return nil, err
	}
	switch o.Format {
	case FormatInfineon:
		err = g.infineon(path)
	case FormatXML:
		err = g.xml(path)
	default:
		err = fmt.Errorf("unknown format %q (want %s or %s)", o.Format, FormatInfineon, FormatXML)
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

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
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
	first := g.first
	unknown, err := testpki.NewRoot("thingpress unknown CA")
	if err != nil {
		return nil, err
	}
	im := g.o.CA.Intermediate
	now := time.Now()
	var out []device
	for k, c := range BadCases {
		chip := ChipID(g.o.ReelID, g.o.N+k)
		d := device{chipID: chip}
		for si, s := range g.o.Slots {
			cn := CommonName(g.o.ReelID, chip, s)
			issue := func(ca *testpki.CA, lo testpki.LeafOptions) ([]byte, error) {
				if lo.CommonName == "" {
					lo.CommonName = cn
				}
				l, err := ca.Issue(lo)
				if err != nil {
					return nil, err
				}
				return testpki.PEM(l.Cert), nil
			}
			var e []byte
			switch c {
			case BadTwoCerts:
				a, err := issue(im, testpki.LeafOptions{})
				if err != nil {
					return nil, err
				}
				b, err := issue(im, testpki.LeafOptions{CommonName: cn[:63] + "x"})
				if err != nil {
					return nil, err
				}
				e = append(a, b...)
			case BadPrivateKey:
				l, err := im.Issue(testpki.LeafOptions{CommonName: cn})
				if err != nil {
					return nil, err
				}
				e = append(testpki.PEM(l.Cert), crlf(l.KeyPEM())...)
			case BadExpired:
				e, err = issue(im, testpki.LeafOptions{NotBefore: now.AddDate(-3, 0, 0), NotAfter: now.AddDate(-1, 0, 0)})
			case BadNotYetValid:
				e, err = issue(im, testpki.LeafOptions{NotBefore: now.AddDate(1, 0, 0), NotAfter: now.AddDate(21, 0, 0)})
			case BadUnknownCA:
				e, err = issue(unknown, testpki.LeafOptions{})
			case BadNoCN:
				e, err = issue(im, testpki.LeafOptions{CommonName: "-"})
			case BadCNSpace:
				e, err = issue(im, testpki.LeafOptions{CommonName: "bad thing " + cn[:16]})
			case BadCNTooLong:
				e, err = issue(im, testpki.LeafOptions{CommonName: cn + cn + "x"})
			case BadDuplicateCert:
				e = testpki.PEM(mustParse(first.entries[si]))
			case BadDuplicateName:
				e, err = issue(im, testpki.LeafOptions{CommonName: CommonName(g.o.ReelID, first.chipID, s)})
			}
			if err != nil {
				return nil, fmt.Errorf("bad case %s: %w", c, err)
			}
			d.entries = append(d.entries, e)
		}
		out = append(out, d)
		g.res.Bad = append(g.res.Bad, BadDevice{ChipID: chip, Case: c})
	}
	return out, nil
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
		tmpDir = fastTempDir(int64(g.o.N+len(BadCases)) * int64(len(g.o.Slots)) * 1200)
	}
	tmp, err := os.MkdirTemp(tmpDir, "genmanifest-*")
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
			return os.WriteFile(filepath.Join(dir, d.chipID+"_"+s+".pem"), e, 0o644)
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

const readme = "Synthetic reel bundle made by thingpress genmanifest for tests.\r\n" +
	"Its certificates are signed by a throw-away test CA: they are not Infineon's.\r\n" +
	"Layout as Infineon's: reelID_GUID_E0E0_Certs.7z, _E0E1_, _E0E2_, reelID_GUID_keys.7z.\r\n"

// xml writes the XML manifest, streaming.
func (g *generator) xml(path string) (err error) {
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
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+
		"<CertificateManifest vendor=\"Infineon\" product=\"OPTIGA Trust M Express\" reelId=%q batchId=%q>\n",
		g.o.ReelID, g.o.BatchID)
	for _, s := range g.o.Slots {
		fmt.Fprintf(w, "  <CertificateChain slot=%q>\n", s)
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: g.o.CA.Intermediate.Cert.Raw})
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: g.o.CA.Root.Cert.Raw})
		w.WriteString("  </CertificateChain>\n")
	}
	err = parallel(g.o.N, g.o.Workers, func(lo, hi int) ([]byte, error) {
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
	w.Write(b.Bytes())
	w.WriteString("</CertificateManifest>\n")
	return w.Flush()
}

// xmlDevice writes one Device element. Good devices carry slot E0E2 as
// base64 DER (as the spec's example) and the others as PEM; bad devices
// are PEM throughout.
func (g *generator) xmlDevice(b *bytes.Buffer, d device) {
	fmt.Fprintf(b, "  <Device chipId=%q>\n", d.chipID)
	for i, s := range g.o.Slots {
		e := d.entries[i]
		switch {
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
	b.WriteString("  </Device>\n")
}
