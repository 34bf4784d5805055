package xmlmanifest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
)

// Element and attribute names of the documented form.
const (
	rootElement   = "CertificateManifest"
	deviceElement = "Device"
	certElement   = "Certificate"
	attrReelID    = "reelId"
	attrBatchID   = "batchId"
	attrChipID    = "chipId"
	attrVendor    = "vendor"
	attrSlot      = "slot"
	attrEncoding  = "encoding"
	encBase64DER  = "base64-der"
	encPEM        = "pem"
)

// minTokenCap is the least number of bytes one XML token may take.
const minTokenCap = 256 << 10

// maxNamespaceDecls caps the namespace declarations in scope at once:
// encoding/xml keeps each until its element ends, so nested start tags
// full of xmlns attributes would otherwise hold some ten times their size
// in memory per level. An honest manifest declares a handful.
const maxNamespaceDecls = 256

// tokenCap returns the most bytes the reader lets encoding/xml consume
// for one token under limits l (defaults filled in): max(2*MaxEntryBytes,
// 256 KiB). docs/design.md ("The XML manifest form") says why.
func tokenCap(l manifest.Limits) int64 {
	return max(2*l.MaxEntryBytes, minTokenCap)
}

// Reader reads the devices of an XML manifest. It implements
// manifest.Source. It is not safe for concurrent use.
type Reader struct {
	file   string
	slot   string
	limits manifest.Limits
	final  manifest.Final // the sticky error, and the file Open opened
	// badSlot is the error of an invalid Options.Slot, the first Next's.
	badSlot error

	in  *limitedReader
	dec *xml.Decoder

	rootSeen bool
	depth    int    // current element depth; the root is 1
	nsDecls  []int  // namespace declarations of each open element
	nsScope  int    // namespace declarations in scope: sum of nsDecls
	devices  int    // Device elements seen
	entry    string // the current Device's entry
	inDevice bool
	reelID   string
	batchID  string
	vendor   string // the chip ID scheme: manifest.VendorInfineon unless the root names another
	keySeen  bool   // key material seen in the current Device

	// Scratch buffers reused from device to device.
	text []byte // the text of the current Certificate element
	raw  []byte // base64 text without white space
	der  []byte // decoded DER
	data []byte // the device's PEM
}

// Open opens the manifest at path. The Reader owns the file: Close
// closes it.
func Open(path string, opts manifest.Options) (*Reader, error) {
	if err := checkSlot(opts.Slot); err != nil {
		return nil, &manifest.Error{File: path, Err: err}
	}
	return manifest.OpenFile(path, func(f io.Reader) (*Reader, *manifest.Final) {
		r := NewReader(f, path, opts)
		return r, &r.final
	})
}

// NewReader returns a Reader of the manifest read from r; file names it
// in errors. Close does not close r. An invalid opts.Slot makes the first
// Next fail with manifest.ErrBadSlot.
func NewReader(r io.Reader, file string, opts manifest.Options) *Reader {
	opts = opts.WithDefaults()
	x := &Reader{file: file, slot: opts.Slot, limits: opts.Limits}
	if err := checkSlot(opts.Slot); err != nil {
		x.badSlot = &manifest.Error{File: file, Err: err}
		return x
	}
	x.in = newLimitedReader(r, tokenCap(opts.Limits), opts.Limits.MaxTotalBytes)
	x.dec = xml.NewDecoder(x.in)
	x.dec.Strict = true
	x.dec.CharsetReader = charsetReader
	return x
}

func checkSlot(slot string) error {
	if slot != "" && !manifest.ValidSlot(slot) {
		return fmt.Errorf("%w %q: want one of %s", manifest.ErrBadSlot, slot, strings.Join(manifest.Slots, ", "))
	}
	return nil
}

// ReelID returns the root's reelId attribute, known after the first Next.
func (r *Reader) ReelID() string { return r.reelID }

// BatchID returns the root's batchId attribute, known after the first
// Next.
func (r *Reader) BatchID() string { return r.batchID }

var errClosed = errors.New("xml manifest reader is closed")

// Close releases the reader and closes the file if Open opened it.
func (r *Reader) Close() error {
	r.dec, r.in = nil, nil
	r.text, r.raw, r.der, r.data = nil, nil, nil, nil
	return r.final.Close(r.file, errClosed)
}

// Next returns the record of the next Device element, or io.EOF after the
// last one. Any other error is a *manifest.Error and final: the manifest
// cannot be read further, and Next returns the same error again.
func (r *Reader) Next() (manifest.Record, error) {
	return manifest.Next(&r.final, r.next)
}

func (r *Reader) next() (manifest.Record, error) {
	if r.badSlot != nil {
		return manifest.Record{}, r.badSlot
	}
	for {
		tok, err := r.token()
		if errors.Is(err, io.EOF) {
			if !r.rootSeen {
				return manifest.Record{}, r.fatal(manifest.ErrMalformed, "no root element")
			}
			return manifest.Record{}, io.EOF
		}
		if err != nil {
			return manifest.Record{}, r.fail(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case r.depth == 1 && r.rootSeen:
				return manifest.Record{}, r.fatal(manifest.ErrMalformed, "element <%s> after the root element", t.Name.Local)
			case r.depth == 1:
				if t.Name.Local != rootElement {
					return manifest.Record{}, r.fatal(manifest.ErrFormat, "root element is <%s>, want <%s>", t.Name.Local, rootElement)
				}
				r.rootSeen = true
				r.reelID = attr(t, attrReelID)
				r.batchID = attr(t, attrBatchID)
				// The documented form is Infineon's.
				r.vendor = attr(t, attrVendor)
				if r.vendor == "" || strings.EqualFold(r.vendor, manifest.VendorInfineon) {
					r.vendor = manifest.VendorInfineon
				}
			case r.depth == 2 && t.Name.Local == deviceElement:
				return r.device(t)
			}
		case xml.CharData:
			if r.depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return manifest.Record{}, r.fatal(manifest.ErrMalformed, "text outside the root element")
			}
		}
	}
}

// device reads the rest of a Device element whose start tag is t.
func (r *Reader) device(t xml.StartElement) (manifest.Record, error) {
	r.devices++
	line, _ := r.dec.InputPos()
	r.entry = fmt.Sprintf("Device[%d] (line %d)", r.devices, line)
	r.inDevice = true
	if r.devices > r.limits.MaxEntries {
		return manifest.Record{}, r.fatal(manifest.ErrTooLarge, "more than %d Device elements", r.limits.MaxEntries)
	}
	rec := manifest.Record{
		Entry:    r.entry,
		ChipID:   attr(t, attrChipID),
		Slot:     r.slot,
		ReelID:   r.reelID,
		BatchID:  r.batchID,
		Encoding: manifest.PEM,
		Vendor:   r.vendor,
	}
	r.keySeen = attrsHaveKey(t)
	depth := r.depth
	r.data = r.data[:0]
	defer r.wipe()
	for {
		tok, err := r.token()
		if err != nil {
			return manifest.Record{}, r.fail(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			// Text of the Device outside the chosen certificate: other
			// slots, unknown elements. Key material anywhere in a Device
			// makes it invalid; the text is wiped in the decoder's buffer.
			r.checkText(t)
		case xml.StartElement:
			r.checkAttrs(t)
			if r.depth != depth+1 || t.Name.Local != certElement || !strings.EqualFold(attr(t, attrSlot), r.slot) {
				continue
			}
			if rec.Problem != nil {
				// Keep r.data bounded however many more certificates follow.
				continue
			}
			if err := r.certificate(attr(t, attrEncoding)); err != nil {
				var p *problem
				if !errors.As(err, &p) {
					return manifest.Record{}, err
				}
				rec.Problem = err
			}
		case xml.EndElement:
			if r.depth < depth {
				rec.KeyMaterial = r.keySeen
				if rec.Problem == nil && len(r.data) > 0 && !rec.KeyMaterial {
					rec.Data = bytes.Clone(r.data)
				}
				return rec, nil
			}
		}
	}
}

// wipe clears the scratch buffers of a device, which may have held key
// material.
func (r *Reader) wipe() {
	clear(r.text[:cap(r.text)])
	clear(r.raw[:cap(r.raw)])
	clear(r.der[:cap(r.der)])
	clear(r.data[:cap(r.data)])
}

// checkText notes key material in text that is not the chosen
// certificate's, and wipes the text in the decoder's buffer.
func (r *Reader) checkText(t xml.CharData) {
	if !r.keySeen && manifest.HasPrivateKey(t) {
		r.keySeen = true
	}
	clear(t)
}

// checkAttrs notes key material in the attributes of t.
func (r *Reader) checkAttrs(t xml.StartElement) {
	if !r.keySeen && attrsHaveKey(t) {
		r.keySeen = true
	}
}

// attrsHaveKey reports whether an attribute of t carries private key
// material.
func attrsHaveKey(t xml.StartElement) bool {
	for _, a := range t.Attr {
		if manifest.StringHasPrivateKey(a.Value) {
			return true
		}
	}
	return false
}

// certificate reads the rest of a Certificate element of the chosen slot
// and appends its certificate to r.data as PEM. A *problem error is the
// device's, any other is fatal.
func (r *Reader) certificate(encoding string) error {
	depth := r.depth
	limit := int(r.limits.MaxEntryBytes)
	r.text = r.text[:0]
	tooLarge := false
	for {
		tok, err := r.token()
		if err != nil {
			return r.fail(err)
		}
		if r.depth < depth {
			break // our end tag
		}
		if st, ok := tok.(xml.StartElement); ok {
			r.checkAttrs(st)
			continue
		}
		t, ok := tok.(xml.CharData)
		if !ok {
			continue
		}
		if r.depth != depth || tooLarge {
			r.checkText(t)
			continue
		}
		if len(r.text) == 0 {
			t = bytes.TrimLeft(t, xmlSpace)
		}
		if len(r.text)+len(t) > limit {
			tooLarge = true
			r.checkText(t)
			continue
		}
		r.text = append(r.text, t...)
	}
	if tooLarge {
		return newProblem(manifest.ErrTooLarge, "certificate slot %s: text over %d bytes", r.slot, limit)
	}
	text := bytes.TrimRight(r.text, xmlSpace)
	if len(text) == 0 {
		return nil
	}
	start := len(r.data)
	if start > 0 && r.data[start-1] != '\n' {
		r.data = append(r.data, '\n')
	}
	switch enc := strings.TrimSpace(encoding); {
	case enc == "" || strings.EqualFold(enc, encPEM):
		r.data = append(r.data, text...)
	case strings.EqualFold(enc, encBase64DER):
		r.raw = appendWithoutSpace(r.raw[:0], text)
		var err error
		r.der, err = base64.StdEncoding.AppendDecode(r.der[:0], r.raw)
		if err != nil {
			r.data = r.data[:start]
			return newProblem(manifest.ErrMalformed, "certificate slot %s: bad base64: %v", r.slot, err)
		}
		r.data = appendPEM(r.data, r.der)
	default:
		r.data = r.data[:start]
		return newProblem(manifest.ErrMalformed, "certificate slot %s: unknown encoding %q (want %s or %s)", r.slot, truncate(enc, 40), encPEM, encBase64DER)
	}
	if len(r.data) > limit {
		return newProblem(manifest.ErrTooLarge, "certificate slot %s: certificates over %d bytes", r.slot, limit)
	}
	return nil
}

// token returns the next token, keeping track of depth and resetting the
// per-token byte count.
func (r *Reader) token() (xml.Token, error) {
	r.in.startToken()
	tok, err := r.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		r.depth++
		if r.depth > r.limits.MaxDepth {
			return nil, r.fatal(manifest.ErrTooLarge, "elements nested deeper than %d", r.limits.MaxDepth)
		}
		n := 0
		for _, a := range t.Attr {
			if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
				n++
			}
		}
		r.nsDecls = append(r.nsDecls, n)
		r.nsScope += n
		if r.nsScope > maxNamespaceDecls {
			return nil, r.fatal(manifest.ErrTooLarge, "more than %d namespace declarations in scope", maxNamespaceDecls)
		}
	case xml.EndElement:
		r.depth--
		last := len(r.nsDecls) - 1
		r.nsScope -= r.nsDecls[last]
		r.nsDecls = r.nsDecls[:last]
		if r.depth < 2 {
			r.inDevice = false
		}
	}
	return tok, nil
}

// where names the entry an error is in, or follows.
func (r *Reader) where() string {
	switch {
	case r.inDevice:
		return r.entry
	case r.devices > 0:
		return fmt.Sprintf("after Device[%d]", r.devices)
	}
	return ""
}

// fatal returns a *manifest.Error naming the file, the entry and the line.
func (r *Reader) fatal(kind error, format string, args ...any) error {
	line, _ := r.dec.InputPos()
	return &manifest.Error{
		File:  r.file,
		Entry: r.where(),
		Err:   fmt.Errorf("%w: line %d: %s", kind, line, fmt.Sprintf(format, args...)),
	}
}

// fail turns an error of the decoder or of the input into a
// *manifest.Error.
func (r *Reader) fail(err error) error {
	var (
		me  *manifest.Error
		syn *xml.SyntaxError
		lim *limitError
		cs  *charsetError
		enc *encodingError
	)
	switch {
	case errors.As(err, &me):
		return err
	case errors.As(err, &lim):
		return r.fatal(manifest.ErrTooLarge, "%s", lim.msg)
	case errors.As(err, &cs):
		return &manifest.Error{File: r.file, Err: fmt.Errorf("%w: %w: only UTF-8 manifests are read", cs, manifest.ErrUnsupported)}
	case errors.As(err, &enc):
		return &manifest.Error{File: r.file, Err: fmt.Errorf("%w: %w: only UTF-8 manifests are read (convert it first, e.g. with iconv -t UTF-8)", enc, manifest.ErrUnsupported)}
	case r.in.ioErr != nil && errors.Is(err, r.in.ioErr):
		return &manifest.Error{File: r.file, Entry: r.where(), Err: fmt.Errorf("read: %w", err)}
	case errors.As(err, &syn):
		return &manifest.Error{File: r.file, Entry: r.where(), Err: fmt.Errorf("%w: %w", manifest.ErrMalformed, err)}
	default:
		return r.fatal(manifest.ErrMalformed, "%v", err)
	}
}

// attr returns the trimmed value of the unqualified attribute name.
func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

const xmlSpace = " \t\r\n"

func appendWithoutSpace(dst, src []byte) []byte {
	for _, c := range src {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendPEM appends der as a PEM CERTIFICATE block, as pem.Encode writes
// it, without allocating beyond dst.
func appendPEM(dst, der []byte) []byte {
	const lineBytes = 48 // 64 base64 characters
	dst = append(dst, "-----BEGIN CERTIFICATE-----\n"...)
	for len(der) > 0 {
		n := min(len(der), lineBytes)
		dst = base64.StdEncoding.AppendEncode(dst, der[:n])
		dst = append(dst, '\n')
		der = der[n:]
	}
	return append(dst, "-----END CERTIFICATE-----\n"...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// problem is a device's problem: its message is its own, and it wraps a
// manifest sentinel error so that errors.Is finds the kind.
type problem struct {
	kind error
	msg  string
}

func newProblem(kind error, format string, args ...any) error {
	return &problem{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.kind }

// charsetError is the error of a declared encoding other than UTF-8.
type charsetError struct{ charset string }

func (e *charsetError) Error() string {
	return fmt.Sprintf("encoding %q declared", truncate(e.charset, 40))
}

// charsetReader accepts the labels of UTF-8 and its subset US-ASCII;
// encoding/xml itself handles "utf-8" and calls this for any other label.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "utf8", "us-ascii", "ascii":
		return input, nil
	}
	return nil, &charsetError{charset: charset}
}

var _ manifest.Source = (*Reader)(nil)
