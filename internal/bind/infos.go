package bind

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
)

// Errors of a device-infos file. A file that breaks them cannot be read
// further; the reader returns them in a *manifest.Error naming the file.
var (
	// ErrFormat: the file is not a device-infos file: not JSON, or not
	// an object of "batchId" and "devices".
	ErrFormat = errors.New("not a device-infos file")
	// ErrTooLarge: the file, one of its values or its device count is
	// over a limit (Limits).
	ErrTooLarge = errors.New("device-infos file exceeds a size limit")
	// ErrEntry: one device entry cannot be used (a field of the wrong
	// type, an unknown field, a field name spelled in another case, a
	// field twice); it is that device's reason.
	ErrEntry = errors.New("unreadable device entry")
)

// Limits bound what a device-infos reader reads.
type Limits struct {
	// MaxFileBytes bounds the whole file.
	MaxFileBytes int64
	// MaxValueBytes bounds one device entry, or the batch ID.
	MaxValueBytes int64
	// MaxDevices bounds the number of device entries.
	MaxDevices int
}

// DefaultLimits fit a device entry with AWS's 50 attributes of 128-
// character names and 800-character values (some 46 KB), and a few
// million devices.
var DefaultLimits = Limits{MaxFileBytes: 2 << 30, MaxValueBytes: 64 << 10, MaxDevices: 5_000_000}

// Info is one device of a device-infos file, as the file gives it.
type Info struct {
	CertFingerprint string            `json:"certFingerprint"`
	DeviceID        string            `json:"deviceId"`
	DeviceType      string            `json:"deviceType"`
	Attributes      map[string]string `json:"attributes"`
}

// Entry is one device entry as read.
type Entry struct {
	// Index is the entry's 0-based position in "devices".
	Index int
	Info
	// Problem is set when the entry cannot be used (ErrEntry); Info is
	// then what could be read of it.
	Problem error
}

// Name is how messages name the entry: devices[Index].
func (e *Entry) Name() string { return fmt.Sprintf("devices[%d]", e.Index) }

// Reader reads a device-infos file,
//
//	{"batchId": "...", "devices": [{"certFingerprint": "...", "deviceId": "...",
//	  "deviceType": "...", "attributes": {...}}, ...]}
//
// as a stream: it holds one device entry at a time.
type Reader struct {
	file   string
	lim    Limits
	cr     *cappedReader
	dec    *json.Decoder
	n      int
	inList bool
	done   bool
	seen   map[string]bool
	// BatchID is the file's batch ID; it may come after the devices, so
	// it is only sure to be set once Next has returned io.EOF.
	BatchID string
}

// NewReader reads the start of a device-infos file from r, up to its
// first device entry; file names it in errors.
func NewReader(r io.Reader, file string, lim Limits) (*Reader, error) {
	if lim.MaxFileBytes <= 0 || lim.MaxValueBytes <= 0 || lim.MaxDevices <= 0 {
		lim = DefaultLimits
	}
	cr := &cappedReader{r: r, fileCap: lim.MaxFileBytes}
	rd := &Reader{file: file, lim: lim, cr: cr, dec: json.NewDecoder(cr), seen: map[string]bool{}}
	if err := rd.delim('{', "the file must be a JSON object"); err != nil {
		return nil, err
	}
	if err := rd.members(); err != nil {
		return nil, err
	}
	if !rd.inList {
		return nil, rd.fail(fmt.Errorf(`%w: no "devices" array`, ErrFormat))
	}
	return rd, nil
}

// Next returns the next device entry, or io.EOF after the last one (and
// the end of the file). An entry that does not decode is returned with
// its Problem; any other error means the file cannot be read further.
func (rd *Reader) Next() (Entry, error) {
	if rd.done {
		return Entry{}, io.EOF
	}
	if !rd.dec.More() {
		if err := rd.delim(']', `the "devices" array must end with ]`); err != nil {
			return Entry{}, err
		}
		rd.inList = false
		if err := rd.members(); err != nil {
			return Entry{}, err
		}
		rd.done = true
		if _, err := rd.dec.Token(); !errors.Is(err, io.EOF) {
			return Entry{}, rd.fail(fmt.Errorf("%w: data after the closing }", ErrFormat))
		}
		return Entry{}, io.EOF
	}
	if rd.n >= rd.lim.MaxDevices {
		return Entry{}, rd.fail(fmt.Errorf("%w: more than %d devices", ErrTooLarge, rd.lim.MaxDevices))
	}
	e := Entry{Index: rd.n}
	rd.n++
	rd.cap()
	var raw json.RawMessage
	if err := rd.dec.Decode(&raw); err != nil {
		return Entry{}, rd.readErr(err, e.Name())
	}
	// The entry was read whole; only its content can be wrong now.
	if err := decodeInfo(raw, &e.Info); err != nil {
		e.Problem = fmt.Errorf("%w: %w", ErrEntry, err)
	}
	return e, nil
}

// infoFields are the fields of a device entry, spelled as the format
// names them.
var infoFields = []string{"certFingerprint", "deviceId", "deviceType", "attributes"}

// decodeInfo decodes one device entry into info, matching field names
// exactly (encoding/json alone would take "DEVICEID" for deviceId) and
// refusing a field given twice. On error, info holds the fields read
// before it.
func decodeInfo(raw []byte, info *Info) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok := tok.(type) {
	case nil:
		return nil // null: an empty entry, as encoding/json reads it
	case json.Delim:
		if tok != '{' {
			return errors.New("the entry must not be a JSON array")
		}
	default:
		return fmt.Errorf("the entry must not be a JSON %s", jsonKind(tok))
	}
	var seen [4]bool
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		i := slices.Index(infoFields, key)
		if i < 0 {
			for _, f := range infoFields {
				if strings.EqualFold(key, f) {
					return fmt.Errorf("field %q must be spelled %q", manifest.Truncate(key, 40), f)
				}
			}
			return fmt.Errorf("unknown field %q", manifest.Truncate(key, 40))
		}
		if seen[i] {
			return fmt.Errorf("field %q appears twice", key)
		}
		seen[i] = true
		dst := []any{&info.CertFingerprint, &info.DeviceID, &info.DeviceType, &info.Attributes}[i]
		if err := d.Decode(dst); err != nil {
			var typeErr *json.UnmarshalTypeError
			if !errors.As(err, &typeErr) {
				return err
			}
			if typeErr.Field != "" {
				key += "." + typeErr.Field
			}
			return fmt.Errorf("%s must not be a JSON %s", key, typeErr.Value)
		}
	}
	return nil
}

// jsonKind names the JSON type of a scalar token as encoding/json does.
func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "number"
}

// members reads the object's members up to the "devices" array (then
// rd.inList is set) or to the closing }.
func (rd *Reader) members() error {
	for rd.dec.More() {
		rd.cap()
		tok, err := rd.dec.Token()
		if err != nil {
			return rd.readErr(err, "")
		}
		key, _ := tok.(string)
		if rd.seen[key] {
			return rd.fail(fmt.Errorf("%w: %q appears twice", ErrFormat, key))
		}
		rd.seen[key] = true
		switch key {
		case "batchId":
			rd.cap()
			if err := rd.dec.Decode(&rd.BatchID); err != nil {
				return rd.readErr(err, "batchId")
			}
		case "devices":
			if err := rd.delim('[', `"devices" must be an array`); err != nil {
				return err
			}
			rd.inList = true
			return nil
		default:
			return rd.fail(fmt.Errorf("%w: unknown field %q (want batchId and devices)", ErrFormat, manifest.Truncate(key, 40)))
		}
	}
	if err := rd.delim('}', "the object must end with }"); err != nil {
		return err
	}
	return nil
}

func (rd *Reader) delim(want json.Delim, what string) error {
	rd.cap()
	tok, err := rd.dec.Token()
	if err != nil {
		return rd.readErr(err, "")
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return rd.fail(fmt.Errorf("%w: %s", ErrFormat, what))
	}
	return nil
}

// cap lets the decoder read one more value of at most MaxValueBytes.
func (rd *Reader) cap() {
	rd.cr.valueCap = rd.dec.InputOffset() + rd.lim.MaxValueBytes + int64(readSlack)
}

func (rd *Reader) readErr(err error, entry string) error {
	switch {
	case errors.Is(err, errFileCap):
		return rd.failAt(entry, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, rd.lim.MaxFileBytes))
	case errors.Is(err, errValueCap):
		return rd.failAt(entry, fmt.Errorf("%w: a value of more than %d bytes", ErrTooLarge, rd.lim.MaxValueBytes))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return rd.failAt(entry, fmt.Errorf("%w: the file ends too early", ErrFormat))
	}
	var syn *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typeErr) {
		return rd.failAt(entry, fmt.Errorf("%w: %s (at byte %d)", ErrFormat, plain(err), rd.dec.InputOffset()))
	}
	return rd.failAt(entry, err)
}

func (rd *Reader) fail(err error) error { return rd.failAt("", err) }

func (rd *Reader) failAt(entry string, err error) error {
	return &manifest.Error{File: rd.file, Entry: entry, Err: err}
}

// plain is a decoding error's message without the Go type names.
func plain(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("%s must not be a JSON %s", typeErr.Field, typeErr.Value)
	}
	return err.Error()
}

// readSlack is what the decoder may have read ahead of the value it
// decodes.
const readSlack = 4096

var (
	errFileCap  = errors.New("file cap")
	errValueCap = errors.New("value cap")
)

// cappedReader fails reads past the file's cap or past the end of the
// value the decoder is allowed to read.
type cappedReader struct {
	r        io.Reader
	n        int64
	fileCap  int64
	valueCap int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	limit := min(c.fileCap+1, c.valueCap)
	if c.n >= limit {
		if c.n > c.fileCap {
			return 0, errFileCap
		}
		return 0, errValueCap
	}
	if rest := limit - c.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
