package format

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/espressif"
	"github.com/thingpress/thingpress/internal/manifest/generated"
	"github.com/thingpress/thingpress/internal/manifest/infineon"
	"github.com/thingpress/thingpress/internal/manifest/microchip"
	"github.com/thingpress/thingpress/internal/manifest/xmlmanifest"
)

// Format names a manifest format.
type Format string

// The formats thingpress reads.
const (
	Auto      Format = "auto"      // detect from content
	Infineon  Format = "infineon"  // Infineon OPTIGA reel bundle (7z)
	XML       Format = "xml"       // the documented XML manifest
	Microchip Format = "microchip" // Microchip JSON array of signed JWS entries
	Espressif Format = "espressif" // Espressif CSV: MAC,cn,cert
	Generated Format = "generated" // one base64 PEM certificate per line
)

// Names lists the values Parse accepts, for help texts.
var Names = []string{string(Auto), string(Infineon), "7z", string(XML), string(Microchip), string(Espressif), string(Generated)}

// Vendors lists the values ParseVendor accepts, for help texts.
var Vendors = []string{string(Auto), string(Infineon), string(Microchip), string(Espressif), string(Generated)}

// Parse turns a --format value into a Format.
func Parse(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, nil
	case "infineon", "7z":
		return Infineon, nil
	case "xml":
		return XML, nil
	case "microchip":
		return Microchip, nil
	case "espressif":
		return Espressif, nil
	case "generated":
		return Generated, nil
	}
	return "", fmt.Errorf("%w: %q (want one of %s)", manifest.ErrFormat, s, strings.Join(Names, ", "))
}

// ParseVendor turns a --vendor value into a Format. Infineon means its
// reel bundle or an XML manifest, told apart by content (InfineonAny).
func ParseVendor(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, nil
	case "infineon":
		return InfineonAny, nil
	case "microchip", "espressif", "generated":
		return Format(strings.ToLower(s)), nil
	}
	return "", fmt.Errorf("%w: vendor %q (want one of %s)", manifest.ErrFormat, s, strings.Join(Vendors, ", "))
}

// InfineonAny is --vendor infineon: a reel bundle or an XML manifest,
// whichever the content is.
const InfineonAny Format = "infineon-any"

// Vendor is the manifest.Vendor constant of f's chip maker; empty for
// XML, whose root names its vendor.
func (f Format) Vendor() string {
	switch f {
	case Infineon, InfineonAny:
		return manifest.VendorInfineon
	case Microchip:
		return manifest.VendorMicrochip
	case Espressif:
		return manifest.VendorEspressif
	case Generated:
		return manifest.VendorGenerated
	}
	return ""
}

var (
	sevenZipMagic  = []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}
	bom            = []byte("\xef\xbb\xbf")
	generatedStart = []byte("LS0tLS1CRUdJTi") // base64 of "-----BEGIN"
)

// jsonHead is how much of a JSON manifest Detect reads to find the first
// element's "protected" member (a Microchip entry is some 4 KiB and
// "payload" comes first).
const jsonHead = 256 << 10

// Sniff tells the format of a manifest from its first bytes: a 7z
// archive is an Infineon bundle; '<' starts XML; a JSON array whose first
// element has "protected" is Microchip's; a first line MAC,cn,cert is
// Espressif's; base64 of "-----BEGIN" is a generated manifest.
func Sniff(head []byte) (Format, error) {
	if bytes.HasPrefix(head, sevenZipMagic) {
		return Infineon, nil
	}
	h := bytes.TrimPrefix(head, bom)
	h = bytes.TrimLeft(h, " \t\r\n")
	switch {
	case len(h) > 0 && h[0] == '<' || xmlmanifest.Encoding(head) != "":
		return XML, nil // the XML reader says if its encoding is not UTF-8
	case len(h) > 0 && h[0] == '[':
		if jwsArray(h) {
			return Microchip, nil
		}
		return "", fmt.Errorf("%w: a JSON array whose first element has no \"protected\" member (not a Microchip manifest)", manifest.ErrFormat)
	case espressifHeader(h):
		return Espressif, nil
	case bytes.HasPrefix(h, generatedStart):
		return Generated, nil
	}
	return "", fmt.Errorf("%w: not a 7z archive, XML, a Microchip JSON manifest, an Espressif CSV (MAC,cn,cert) or base64 PEM lines", manifest.ErrFormat)
}

// jwsArray reports whether the first element of the JSON array that h
// starts (perhaps cut short) has a "protected" member.
func jwsArray(h []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(h))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return false
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for {
		t, err := dec.Token() // a member's name, or the closing }
		if err != nil {
			return false
		}
		if name, ok := t.(string); !ok {
			return false
		} else if name == "protected" {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
}

// espressifHeader reports whether the first line of h is the header
// MAC,cn,cert.
func espressifHeader(h []byte) bool {
	line, _, _ := bytes.Cut(h, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	f := strings.Split(string(line), ",")
	if len(f) != 3 {
		return false
	}
	return strings.TrimSpace(f[0]) == "MAC" && strings.TrimSpace(f[1]) == "cn" && strings.TrimSpace(f[2]) == "cert"
}

// Detect reads the start of the file at path and tells its format.
func Detect(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &manifest.Error{File: path, Err: err}
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", &manifest.Error{File: path, Err: err}
	}
	head = head[:n]
	if n == 0 {
		return "", &manifest.Error{File: path, Err: ErrEmpty}
	}
	if t := bytes.TrimLeft(bytes.TrimPrefix(head, bom), " \t\r\n"); len(t) > 0 && t[0] == '[' && n == 512 {
		more, err := io.ReadAll(io.LimitReader(f, jsonHead-512))
		if err != nil {
			return "", &manifest.Error{File: path, Err: err}
		}
		head = append(head, more...)
	}
	ft, err := Sniff(head)
	if err != nil {
		return "", &manifest.Error{File: path, Err: err}
	}
	return ft, nil
}

// ErrEmpty is a manifest file of no bytes.
var ErrEmpty = fmt.Errorf("%w: the file is empty", manifest.ErrFormat)

// Config holds what some readers need beyond manifest.Options.
type Config struct {
	// Signers verify a Microchip manifest; nil means
	// microchip.DefaultSigners.
	Signers *microchip.Signers
}

// Open opens the manifest at path with the reader for f, detecting the
// format first when f is Auto. It returns the format used.
func Open(path string, f Format, opts manifest.Options) (manifest.Source, Format, error) {
	return OpenContext(context.Background(), path, f, opts)
}

// OpenContext is Open that gives up when ctx is done (an Infineon bundle
// spools its inner archive while it opens).
func OpenContext(ctx context.Context, path string, f Format, opts manifest.Options) (manifest.Source, Format, error) {
	return OpenConfig(ctx, path, f, opts, Config{})
}

// Resolve is the format Open would use for the manifest at path: f, or
// the detected one when f is Auto or InfineonAny. A forced f still meets the
// content once: an empty file, or a 7z archive forced to another reader, is
// an error that says what the file is instead of a reader quoting its bytes.
func Resolve(path string, f Format) (Format, error) {
	d, err := Detect(path)
	switch {
	case errors.Is(err, ErrEmpty):
		return "", err
	case f == Auto || f == "":
		return d, err
	case f == InfineonAny:
		if err == nil && d == XML {
			return XML, nil
		}
		return Infineon, nil // the bundle reader says what is wrong
	case err == nil && d == Infineon && f != Infineon:
		return "", &manifest.Error{File: path, Err: fmt.Errorf("%w: the file is a 7z archive, which the %s reader does not read (drop --vendor/--format, or give the right file)", manifest.ErrFormat, f)}
	}
	return f, nil
}

// OpenConfig is OpenContext with the readers' Config.
func OpenConfig(ctx context.Context, path string, f Format, opts manifest.Options, cfg Config) (manifest.Source, Format, error) {
	f, err := Resolve(path, f)
	if err != nil {
		return nil, "", err
	}
	var src manifest.Source
	switch f {
	case Infineon:
		src, err = infineon.Open(ctx, path, opts)
	case XML:
		src, err = xmlmanifest.Open(path, opts)
	case Microchip:
		src, err = microchip.Open(path, opts, cfg.Signers)
	case Espressif:
		src, err = espressif.Open(path, opts)
	case Generated:
		src, err = generated.Open(path, opts)
	default:
		return nil, f, &manifest.Error{File: path, Err: fmt.Errorf("%w: %q", manifest.ErrFormat, f)}
	}
	if err != nil {
		return nil, f, err
	}
	return src, f, nil
}
