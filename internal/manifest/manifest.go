package manifest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Encoding says how Record.Data holds the certificate.
type Encoding int

const (
	// PEM means Data is PEM text as found in the manifest (it may hold
	// several blocks, or none; validation decides).
	PEM Encoding = iota
	// DER means Data is the DER of one certificate.
	DER
)

// Record is one device entry as read from a manifest, before validation.
type Record struct {
	// Entry names where in the manifest the record came from, for
	// messages: an archive member name, or "Device[N] (line L)" for XML.
	Entry    string
	ChipID   string // chip identifier where the manifest names one
	Slot     string // certificate slot, e.g. E0E0
	ReelID   string // reel the chip came on, where known
	BatchID  string // batch the reel belongs to, where known
	Data     []byte // the entry's content, at most Limits.MaxEntryBytes
	Encoding Encoding
	// Vendor names the chip maker whose manifest this is (one of the
	// Vendor constants). Only VendorInfineon has a chip ID scheme that
	// validation checks; empty means none is.
	Vendor string
	// ThingName, when set, names the Thing instead of the certificate's
	// subject CN (a Microchip uniqueId, an Espressif MAC). Validation
	// applies the thing-name rules to it all the same.
	ThingName string
	// Attributes are Thing attributes the vendor's manifest adds to
	// chip_id, reel_id and batch_id (Microchip's partNumber, say).
	// Validation checks them against AWS IoT's attribute rules.
	Attributes map[string]string
	// KeyMaterial is set when the reader saw private key material in the
	// entry outside Data (another element or attribute of an XML
	// Device). The reader keeps none of it.
	KeyMaterial bool
	// Problem is set when the reader found this entry unusable but the
	// rest of the manifest readable (an entry over MaxEntryBytes, bad
	// base64): validation reports it as the device's reason.
	Problem error
}

// WithAttributes returns r with Attributes a, or r as it is when a is
// empty: a vendor reader's Next hands on what its device adds.
func (r Record) WithAttributes(a map[string]string) Record {
	if len(a) > 0 {
		r.Attributes = a
	}
	return r
}

// Source yields the device records of one manifest, in manifest order,
// without holding the manifest in memory.
type Source interface {
	// Next returns the next record, or io.EOF after the last one. Any
	// other error means the manifest cannot be read further.
	Next() (Record, error)
	// Close releases the files and memory the source holds.
	Close() error
}

// Options configure a reader.
type Options struct {
	// Slot selects the certificate slot to read (E0E0, E0E1 or E0E2).
	// Empty means DefaultSlot.
	Slot   string
	Limits Limits
	// TempDir is where a reader may spool an inner archive; empty means
	// os.TempDir().
	TempDir string
	// Logger receives warnings about entries that are skipped. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Record.Vendor values. VendorInfineon's chip IDs are 20 hexadecimal
// characters.
const (
	VendorInfineon  = "Infineon"
	VendorMicrochip = "Microchip"
	VendorEspressif = "Espressif"
	// VendorGenerated is a manifest of base64 PEM lines, as a
	// certificate generator or a test writes it: no chip maker.
	VendorGenerated = "generated"
)

// DefaultSlot is the certificate slot read when none is chosen.
const DefaultSlot = "E0E0"

// Slots are the certificate slots of an OPTIGA Trust M chip.
var Slots = []string{"E0E0", "E0E1", "E0E2"}

// ValidSlot reports whether s is one of Slots.
func ValidSlot(s string) bool {
	for _, v := range Slots {
		if s == v {
			return true
		}
	}
	return false
}

// Limits cap what a reader accepts, so that a decompression bomb or a
// hostile XML file ends in ErrTooLarge instead of exhausting the machine.
// A zero field takes its default from DefaultLimits.
type Limits struct {
	// MaxEntryBytes caps one entry: a PEM file in an archive, or the
	// text of one XML Certificate element.
	MaxEntryBytes int64
	// MaxInnerBytes caps an inner archive that is spooled to disk.
	MaxInnerBytes int64
	// MaxTotalBytes caps the uncompressed bytes read from the manifest.
	MaxTotalBytes int64
	// MaxEntries caps the number of entries (archive members or XML
	// Device elements).
	MaxEntries int
	// MaxMembers caps the members of an outer archive (a reel bundle has
	// five), checked before any member is decompressed.
	MaxMembers int
	// MaxInnerMembers caps the members of an inner 7z archive, which the
	// 7z library lists in memory (some 500 bytes each at its peak), so
	// that a hostile archive of tiny members cannot exhaust the machine.
	MaxInnerMembers int
	// MaxDepth caps XML element nesting.
	MaxDepth int
}

// DefaultLimits fit an XML manifest of up to ten million devices and a reel
// of up to two million chips (real reels hold a few thousand), whose inner
// archive's listing the 7z library holds in memory (its cost per member
// is in BENCHMARKS.md).
var DefaultLimits = Limits{
	MaxEntryBytes:   64 << 10,
	MaxInnerBytes:   8 << 30,
	MaxTotalBytes:   32 << 30,
	MaxEntries:      10_000_000,
	MaxMembers:      4096,
	MaxInnerMembers: 2_000_000,
	MaxDepth:        32,
}

// WithDefaults returns l with every zero field set from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	if l.MaxEntryBytes > 0 {
		d.MaxEntryBytes = l.MaxEntryBytes
	}
	if l.MaxInnerBytes > 0 {
		d.MaxInnerBytes = l.MaxInnerBytes
	}
	if l.MaxTotalBytes > 0 {
		d.MaxTotalBytes = l.MaxTotalBytes
	}
	if l.MaxEntries > 0 {
		d.MaxEntries = l.MaxEntries
	}
	if l.MaxMembers > 0 {
		d.MaxMembers = l.MaxMembers
	}
	if l.MaxInnerMembers > 0 {
		d.MaxInnerMembers = l.MaxInnerMembers
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	return d
}

// WithDefaults returns o with the default slot, limits and logger filled in.
func (o Options) WithDefaults() Options {
	if o.Slot == "" {
		o.Slot = DefaultSlot
	}
	o.Limits = o.Limits.WithDefaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Errors that make a whole manifest unreadable. Readers wrap them in an
// *Error that names the file.
var (
	ErrFormat    = errors.New("unknown manifest format")
	ErrMalformed = errors.New("malformed manifest")
	ErrTooLarge  = errors.New("manifest exceeds a size limit")
	ErrEncrypted = errors.New("manifest is encrypted")
	// ErrUnsupported is a manifest in a well-formed variant thingpress
	// does not read: a 7z compression method, a text encoding.
	ErrUnsupported = errors.New("not supported")
	ErrSlotMissing = errors.New("certificate slot not in manifest")
	ErrBadSlot     = errors.New("unknown certificate slot")
)

// Error is a problem with a manifest, or with one device in it. It names
// the file and, where known, the entry and the device.
type Error struct {
	File   string // the manifest's path
	Entry  string // the entry in the manifest, if the problem is in one
	Device string // the chip ID or thing name, if known
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Entry != "" {
		b.WriteString(e.Entry)
		b.WriteString(": ")
	}
	if e.Device != "" {
		fmt.Fprintf(&b, "device %s: ", e.Device)
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Reason is err without the file, entry and device that an *Error adds,
// for outputs whose other fields already name them.
func Reason(err error) string {
	var me *Error
	if errors.As(err, &me) && me.Err != nil {
		return me.Err.Error()
	}
	return err.Error()
}
