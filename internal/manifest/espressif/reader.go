package espressif

import (
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
)

// Problems of one row; each wraps manifest.ErrMalformed too, except the
// ErrTooLarge one.
var (
	ErrColumns     = errors.New("wrong number of columns")
	ErrMAC         = errors.New("bad MAC")
	ErrCertificate = errors.New("no certificate PEM")
)

// Column names of the header.
const (
	colMAC  = "MAC"
	colCN   = "cn"
	colCert = "cert"
)

// rowFactor times Limits.MaxEntryBytes caps one CSV record.
const rowFactor = 2

// readAhead is what encoding/csv's bufio.Reader may read beyond the
// record it parses.
const readAhead = 4096

// Device is one row with what the Espressif manifest adds to a Record.
// Its Record's ThingName is the MAC, upper-cased (empty when the MAC is
// bad), and its Attributes are those of Attributes.
type Device struct {
	manifest.Record
	CN string // the cn column, as found (at most 128 bytes)
}

// Attributes returns the row's fields worth keeping on the Thing.
func (d Device) Attributes() map[string]string {
	a := map[string]string{}
	if d.CN != "" {
		a["cn"] = d.CN
	}
	return a
}

// Reader reads the rows of an Espressif CSV manifest. It implements
// manifest.Source. It is not safe for concurrent use.
type Reader struct {
	file   string
	limits manifest.Limits
	final  manifest.Final

	in               *manifest.CappedReader
	csv              *csv.Reader
	started          bool
	rows             int
	columns          int // in the header
	iMAC, iCN, iCert int
	line             int // the line the current row starts on
}

// Open opens the manifest at path. The Reader owns the file: Close
// closes it.
func Open(path string, opts manifest.Options) (*Reader, error) {
	return manifest.OpenFile(path, func(f io.Reader) (*Reader, *manifest.Final) {
		r := NewReader(f, path, opts)
		return r, &r.final
	})
}

// NewReader returns a Reader of the manifest read from r; file names it
// in errors. Close does not close r.
func NewReader(r io.Reader, file string, opts manifest.Options) *Reader {
	opts = opts.WithDefaults()
	in := manifest.NewCappedReader(r, opts.Limits.MaxTotalBytes).CapParts("a CSV record", rowFactor*opts.Limits.MaxEntryBytes, readAhead)
	c := csv.NewReader(in)
	// The column count is checked against the header here rather than
	// by FieldsPerRecord, so that a short row is that row's Problem.
	c.FieldsPerRecord = -1
	c.LazyQuotes = false
	c.ReuseRecord = true
	return &Reader{file: file, limits: opts.Limits, in: in, csv: c}
}

var errClosed = errors.New("espressif manifest reader is closed")

// Close releases the reader and closes the file if Open opened it.
func (r *Reader) Close() error {
	r.csv, r.in = nil, nil
	return r.final.Close(r.file, errClosed)
}

// Next returns the record of the next row, or io.EOF after the last.
func (r *Reader) Next() (manifest.Record, error) {
	d, err := r.NextDevice()
	return d.WithAttributes(d.Attributes()), err
}

// NextDevice returns the next row with its Espressif fields, or io.EOF
// after the last. Any other error is a *manifest.Error and final.
func (r *Reader) NextDevice() (Device, error) {
	return manifest.Next(&r.final, r.next)
}

func (r *Reader) next() (Device, error) {
	if !r.started {
		r.started = true
		if err := r.header(); err != nil {
			return Device{}, err
		}
	}
	rec, err := r.read()
	if err != nil {
		return Device{}, err
	}
	r.rows++
	if r.rows > r.limits.MaxEntries {
		return Device{}, &manifest.Error{File: r.file, Entry: r.entryName(), Err: fmt.Errorf("%w: more than %d rows", manifest.ErrTooLarge, r.limits.MaxEntries)}
	}
	return r.row(rec), nil
}

// read returns the next CSV record.
func (r *Reader) read() ([]string, error) {
	r.in.Mark()
	rec, err := r.csv.Read()
	if err != nil {
		return nil, r.fail(err)
	}
	r.line, _ = r.csv.FieldPos(0)
	return rec, nil
}

// header reads the header row and finds the columns.
func (r *Reader) header() error {
	rec, err := r.read()
	if errors.Is(err, io.EOF) {
		return r.fatal(manifest.ErrMalformed, "empty file: want a header %s,%s,%s", colMAC, colCN, colCert)
	}
	if err != nil {
		return err
	}
	r.iMAC, r.iCN, r.iCert = -1, -1, -1
	for i, name := range rec {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		var p *int
		switch strings.TrimSpace(name) {
		case colMAC:
			p = &r.iMAC
		case colCN:
			p = &r.iCN
		case colCert:
			p = &r.iCert
		default:
			continue
		}
		if *p >= 0 {
			return r.fatal(manifest.ErrFormat, "column %s twice in the header", strings.TrimSpace(name))
		}
		*p = i
	}
	if r.iMAC < 0 || r.iCN < 0 || r.iCert < 0 {
		return r.fatal(manifest.ErrFormat, "header is not %s,%s,%s", colMAC, colCN, colCert)
	}
	r.columns = len(rec)
	return nil
}

// row makes the device of one CSV record.
func (r *Reader) row(rec []string) Device {
	d := Device{Record: manifest.Record{Entry: r.entryName(), Encoding: manifest.PEM, Vendor: manifest.VendorEspressif}}
	if len(rec) != r.columns {
		d.Problem = manifest.Problemf(ErrColumns, "%d columns, the header has %d", len(rec), r.columns)
		if r.iMAC < len(rec) {
			d.ChipID = manifest.Truncate(strings.TrimSpace(rec[r.iMAC]), 40)
		}
		return d
	}
	mac := strings.TrimSpace(rec[r.iMAC])
	d.ChipID = manifest.Truncate(mac, 40)
	d.CN = manifest.Truncate(strings.TrimSpace(rec[r.iCN]), 128)
	if !validMAC(mac) {
		d.Problem = manifest.Problemf(ErrMAC, "%q is not 12 hex characters", manifest.Truncate(mac, 40))
		return d
	}
	d.ChipID = strings.ToUpper(mac)
	d.ThingName = d.ChipID
	cert := strings.TrimSpace(rec[r.iCert])
	if int64(len(cert))+1 > r.limits.MaxEntryBytes { // Data ends in a newline
		d.Problem = manifest.Problemf(manifest.ErrTooLarge, "cert column over %d bytes", r.limits.MaxEntryBytes)
		return d
	}
	if b, _ := pem.Decode([]byte(cert)); b == nil {
		d.Problem = manifest.Problemf(ErrCertificate, "cert column holds no PEM block")
		return d
	}
	d.Data = []byte(cert + "\n")
	return d
}

func (r *Reader) entryName() string {
	return "row " + strconv.Itoa(r.rows) + " (line " + strconv.Itoa(r.line) + ")"
}

func validMAC(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// fatal returns a *manifest.Error naming the file and the row.
func (r *Reader) fatal(kind error, format string, args ...any) error {
	return &manifest.Error{File: r.file, Entry: r.where(), Err: fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))}
}

func (r *Reader) where() string {
	if r.rows > 0 {
		return "after " + r.entryName()
	}
	return ""
}

// fail turns an error of encoding/csv or the input into a *manifest.Error.
func (r *Reader) fail(err error) error {
	var pe *csv.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return io.EOF
	case r.in.Exceeded() != "":
		return r.fatal(manifest.ErrTooLarge, "%s", r.in.Exceeded())
	case r.in.InputErr() != nil && errors.Is(err, r.in.InputErr()):
		return &manifest.Error{File: r.file, Entry: r.where(), Err: fmt.Errorf("read: %w", err)}
	case errors.As(err, &pe):
		return r.fatal(manifest.ErrMalformed, "line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	default:
		return r.fatal(manifest.ErrMalformed, "%v", err)
	}
}

var _ manifest.Source = (*Reader)(nil)
