package validate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"sync"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/trust"
)

// Reasons a device is invalid. A Checked device's Err wraps exactly one of them,
// of the device certificate profile (profile.go) or of trust (each wraps
// trust.ErrUntrusted) in a *manifest.Error.
var (
	ErrEntry                = errors.New("unreadable entry")
	ErrNoCertificate        = errors.New("no certificate in entry")
	ErrMultipleCertificates = errors.New("more than one certificate in entry")
	ErrPrivateKey           = errors.New("PRIVATE KEY MATERIAL in entry: the entry is never imported or sent anywhere")
	ErrParse                = errors.New("certificate does not parse")
	ErrExpired              = errors.New("certificate expired")
	ErrNotYetValid          = errors.New("certificate not yet valid")
	ErrNoCommonName         = errors.New("subject has no CN to name the thing")
	ErrThingName            = errors.New("subject CN is not a valid AWS IoT thing name")
	ErrDuplicateCertificate = errors.New("duplicate certificate")
	ErrDuplicateThingName   = errors.New("duplicate thing name")
	ErrDuplicateChipID      = errors.New("duplicate chip ID with another certificate")
)

// thingNameRE is AWS IoT's rule for thing names.
var thingNameRE = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// ValidThingName reports whether s is a valid AWS IoT thing name.
func ValidThingName(s string) bool { return thingNameRE.MatchString(s) }

// Checked is one manifest record after the checks, with their verdict:
// Err is nil for a device that may be imported, else the reason it may not.
type Checked struct {
	// Seq is the entry's 1-based position among the manifest's records.
	Seq int
	// Record is the entry as read; its Data is dropped after parsing.
	manifest.Record
	// DER is the certificate when the entry holds exactly one that parses.
	DER  []byte
	Cert *x509.Certificate
	// CertificateID is the lower-case hex SHA-256 of DER.
	CertificateID string
	// ThingName is Record.ThingName, or the subject CN when the record
	// names none, when it is a valid thing name.
	ThingName string
	// Issuer is the subject CN of the trusted CA that issued the
	// certificate, or of the certificate's issuer when the chain is not
	// checked.
	Issuer string
	// Err is nil for a device that may be imported; otherwise a
	// *manifest.Error whose cause is one of the reasons above.
	Err error
}

// OK reports whether the device may be imported.
func (d *Checked) OK() bool { return d.Err == nil }

// PEM returns the certificate as PEM, as AWS IoT takes it.
func (d *Checked) PEM() string {
	if d.DER == nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.DER}))
}

// Options configure validation.
type Options struct {
	// File names the manifest in errors.
	File string
	// Trust verifies each certificate's chain; nil turns the check off.
	Trust *trust.Store
	// Now gives the time validity is checked at; nil means time.Now.
	Now func() time.Time
	// Workers is the number of records parsed and verified at once; 0
	// means GOMAXPROCS.
	Workers int
	// ThingName, if set, names each Thing instead of the manifest's name
	// or the subject CN.
	ThingName *NameTemplate
}

// Run reads every record of src, validates it and calls emit with the
// devices in manifest order. It stops at the first error from src, from
// emit or of ctx.
func Run(ctx context.Context, src manifest.Source, opts Options, emit func(*Checked) error) error {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	at := now()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	type job struct {
		d    *Checked
		done chan struct{}
	}
	jobs := make(chan job, workers*4)
	order := make(chan job, workers*16)

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				check(j.d, opts, at)
				close(j.done)
			}
		}()
	}

	// The reader feeds the workers and, in the same order, the emitter.
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		seq := 0
		for {
			rec, err := src.Next()
			if errors.Is(err, io.EOF) {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- err
				return
			}
			seq++
			j := job{d: &Checked{Seq: seq, Record: rec}, done: make(chan struct{})}
			select {
			case order <- j:
			case <-ctx.Done():
				readErr <- nil
				return
			}
			jobs <- j
		}
	}()

	dups := newDedup()
	var emitErr error
	for j := range order {
		if emitErr == nil && ctx.Err() != nil {
			emitErr = context.Cause(ctx)
		}
		if emitErr != nil {
			<-j.done
			continue
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			emitErr = context.Cause(ctx)
			cancel(emitErr)
			<-j.done
			continue
		}
		dups.check(j.d, opts.File)
		if err := emit(j.d); err != nil {
			emitErr = err
			cancel(err)
		}
	}
	wg.Wait()
	if err := <-readErr; err != nil {
		return err
	}
	if emitErr != nil {
		return emitErr
	}
	return ctx.Err()
}

// fail sets the device's reason, naming file, entry and device.
func fail(d *Checked, file string, err error) {
	name := d.ChipID
	if name == "" {
		name = d.ThingName
	}
	if len(name) > 64 || !validAttribute(name) {
		name = quote(name) // an untrusted chip ID that is no attribute
	}
	d.Err = &manifest.Error{File: file, Entry: d.Entry, Device: name, Err: err}
}

// check runs the checks that need no other device.
func check(d *Checked, opts Options, at time.Time) {
	data := d.Data
	d.Data = nil
	if d.Problem != nil {
		fail(d, opts.File, fmt.Errorf("%w: %w", ErrEntry, d.Problem))
		return
	}
	var certs [][]byte
	key := d.KeyMaterial
	if d.Encoding == manifest.DER {
		key = key || manifest.DERHasPrivateKey(data)
	} else if !key {
		certs, key = manifest.ScanPEM(data)
	}
	if key {
		// Wipe our copy; the key is never logged, kept or sent.
		clear(data)
		fail(d, opts.File, ErrPrivateKey)
		return
	}
	if err := checkAttributes(d); err != nil {
		fail(d, opts.File, err)
		return
	}
	der, err := certificateDER(data, d.Encoding, certs)
	if err != nil {
		fail(d, opts.File, err)
		return
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		fail(d, opts.File, fmt.Errorf("%w: %w", ErrParse, err))
		return
	}
	d.DER = der
	d.Cert = cert
	sum := sha256.Sum256(der)
	d.CertificateID = hex.EncodeToString(sum[:])
	d.Issuer = cert.Issuer.CommonName
	cn := cert.Subject.CommonName
	name, from := cn, "subject CN"
	if d.Record.ThingName != "" {
		name, from = d.Record.ThingName, "manifest's thing name"
	}
	emptyField := ""
	if opts.ThingName != nil {
		name, emptyField = opts.ThingName.name(d, cn)
		from = fmt.Sprintf("name the template %q gives", opts.ThingName)
	}
	if emptyField == "" && ValidThingName(name) {
		d.ThingName = name
	}
	switch {
	case at.After(cert.NotAfter):
		fail(d, opts.File, fmt.Errorf("%w on %s", ErrExpired, cert.NotAfter.UTC().Format(time.RFC3339)))
		return
	case at.Before(cert.NotBefore):
		fail(d, opts.File, fmt.Errorf("%w until %s", ErrNotYetValid, cert.NotBefore.UTC().Format(time.RFC3339)))
		return
	}
	if err := checkProfile(cert); err != nil {
		fail(d, opts.File, err)
		return
	}
	if opts.Trust != nil {
		ca, err := opts.Trust.Verify(cert, at)
		if err != nil {
			fail(d, opts.File, err)
			return
		}
		d.Issuer = ca.Subject.CommonName
	}
	if d.ThingName == "" {
		err := fmt.Errorf("%w: %q must match [a-zA-Z0-9:_-]{1,128}", ErrThingName, truncate(name, 140))
		switch {
		case emptyField != "":
			err = namedError{fmt.Sprintf("the template %q gives no thing name: this device has no %s", opts.ThingName, emptyField), ErrThingName}
		case opts.ThingName != nil || d.Record.ThingName != "":
			err = namedError{fmt.Sprintf("the %s %q is not a valid AWS IoT thing name: it must match [a-zA-Z0-9:_-]{1,128}", from, truncate(name, 140)), ErrThingName}
		}
		fail(d, opts.File, err)
	}
}

// namedError is a reason that says more than its sentinel's text.
type namedError struct {
	msg string
	is  error
}

func (e namedError) Error() string        { return e.msg }
func (e namedError) Is(target error) bool { return target == e.is }

// certificateDER returns the one certificate of an entry: data itself
// for DER, else the one of certs, the CERTIFICATE blocks of its PEM.
func certificateDER(data []byte, enc manifest.Encoding, certs [][]byte) ([]byte, error) {
	if enc == manifest.DER {
		if len(data) == 0 {
			return nil, ErrNoCertificate
		}
		return data, nil
	}
	switch n := len(certs); {
	case n == 0:
		return nil, ErrNoCertificate
	case n > 1:
		return nil, fmt.Errorf("%w: %d certificates", ErrMultipleCertificates, n)
	}
	return certs[0], nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// dedup remembers the certificates, thing names and chip IDs of valid
// devices by a 64-bit fingerprint (the first 8 bytes of their SHA-256)
// and the entry number that claimed them: a few dozen bytes a device for
// the three maps (BENCHMARKS.md says how many). Two different values
// share a fingerprint with a chance of about n²/2⁶⁵ (3·10⁻⁸ for a million
// devices); if it happens, the later device is reported as a duplicate
// with its reason, never dropped silently.
type dedup struct {
	certs  map[uint64]uint32
	things map[uint64]uint32
	chips  map[uint64]uint32
}

func newDedup() *dedup {
	return &dedup{certs: map[uint64]uint32{}, things: map[uint64]uint32{}, chips: map[uint64]uint32{}}
}

func fingerprint(b []byte) uint64 {
	sum := sha256.Sum256(b)
	return binary.LittleEndian.Uint64(sum[:8])
}

// check flags a valid device whose certificate, chip ID or thing name an
// earlier valid device already has; the first occurrence stays valid. A
// chip seen again with the same certificate is a duplicate certificate.
func (u *dedup) check(d *Checked, file string) {
	if !d.OK() {
		return
	}
	ck := fingerprint(d.DER)
	if first, seen := u.certs[ck]; seen {
		fail(d, file, fmt.Errorf("%w: same certificate as entry #%d", ErrDuplicateCertificate, first))
		return
	}
	var chk uint64
	if d.ChipID != "" {
		id := []byte(d.ChipID)
		if d.Vendor == manifest.VendorInfineon {
			id = bytes.ToUpper(id) // hex: 0a09... is 0A09...
		}
		chk = fingerprint(id)
		if first, seen := u.chips[chk]; seen {
			fail(d, file, fmt.Errorf("%w: chip %s already has the certificate of entry #%d", ErrDuplicateChipID, d.ChipID, first))
			return
		}
	}
	tk := fingerprint([]byte(d.ThingName))
	if first, seen := u.things[tk]; seen {
		fail(d, file, fmt.Errorf("%w: %s already named by entry #%d", ErrDuplicateThingName, d.ThingName, first))
		return
	}
	u.certs[ck] = uint32(d.Seq)
	u.things[tk] = uint32(d.Seq)
	if d.ChipID != "" {
		u.chips[chk] = uint32(d.Seq)
	}
}
