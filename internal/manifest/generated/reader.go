package generated

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/thingpress/thingpress/internal/manifest"
)

// Problems of one line; each wraps manifest.ErrMalformed too, except the
// ErrTooLarge ones.
var (
	ErrBase64     = errors.New("line is not base64")
	ErrNoPEM      = errors.New("no PEM CERTIFICATE block")
	ErrBlockType  = errors.New("PEM block other than CERTIFICATE")
	ErrPrivateKey = errors.New("PRIVATE KEY MATERIAL in entry: the entry is never imported or sent anywhere")
)

// Device is one line with what a generated manifest adds to a Record.
type Device struct {
	manifest.Record
	// Chain holds the DER of the certificates after the leaf, in order.
	Chain [][]byte
}

// Reader reads the lines of a generated manifest. It implements
// manifest.Source. It is not safe for concurrent use.
type Reader struct {
	file   string
	limits manifest.Limits
	final  manifest.Final

	in      *manifest.CappedReader
	sc      *bufio.Scanner
	split   *splitter
	line    int // lines read
	entries int
	buf     []byte // decoded line, reused
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
	in := manifest.NewCappedReader(r, opts.Limits.MaxTotalBytes)
	lineCap := lineCap(opts.Limits)
	sp := &splitter{max: lineCap, in: in}
	sc := bufio.NewScanner(in)
	// One byte more than the cap, so that a line of lineCap bytes fits
	// with its newline.
	sc.Buffer(make([]byte, 0, min(lineCap+1, 64<<10)), lineCap+1)
	sc.Split(sp.split)
	return &Reader{file: file, limits: opts.Limits, in: in, sc: sc, split: sp}
}

// lineCap is the longest line kept: the base64 of MaxEntryBytes, and a
// CR.
func lineCap(l manifest.Limits) int {
	return base64.StdEncoding.EncodedLen(int(l.MaxEntryBytes)) + 1
}

var errClosed = errors.New("generated manifest reader is closed")

// Close releases the reader and closes the file if Open opened it.
func (r *Reader) Close() error {
	r.sc, r.in, r.buf = nil, nil, nil
	return r.final.Close(r.file, errClosed)
}

// Next returns the record of the next non-blank line, or io.EOF after
// the last.
func (r *Reader) Next() (manifest.Record, error) {
	d, err := r.NextDevice()
	return d.Record, err
}

// NextDevice returns the next line's device with its chain, or io.EOF
// after the last. Any other error is a *manifest.Error and final.
func (r *Reader) NextDevice() (Device, error) {
	return manifest.Next(&r.final, r.next)
}

func (r *Reader) next() (Device, error) {
	for r.sc.Scan() {
		r.line++
		text := bytes.TrimSpace(r.sc.Bytes())
		if len(text) == 0 && !r.split.tooLong {
			continue
		}
		r.entries++
		d := Device{Record: manifest.Record{Entry: "line " + strconv.Itoa(r.line), Encoding: manifest.PEM, Vendor: manifest.VendorGenerated}}
		if r.entries > r.limits.MaxEntries {
			return Device{}, &manifest.Error{File: r.file, Entry: d.Entry, Err: fmt.Errorf("%w: more than %d certificates", manifest.ErrTooLarge, r.limits.MaxEntries)}
		}
		if r.split.tooLong {
			d.Problem = manifest.Problemf(manifest.ErrTooLarge, "line %d is over %d bytes", r.line, r.split.max)
			return d, nil
		}
		r.entry(&d, text)
		return d, nil
	}
	err := r.sc.Err()
	if err == nil {
		return Device{}, io.EOF
	}
	where := ""
	if r.line > 0 {
		where = "after line " + strconv.Itoa(r.line)
	}
	if r.in.Exceeded() != "" {
		return Device{}, &manifest.Error{File: r.file, Entry: where, Err: fmt.Errorf("%w: %s", manifest.ErrTooLarge, r.in.Exceeded())}
	}
	return Device{}, &manifest.Error{File: r.file, Entry: where, Err: fmt.Errorf("read: %w", err)}
}

// entry fills d from the text of one line.
func (r *Reader) entry(d *Device, text []byte) {
	n, err := base64.StdEncoding.Decode(r.decodeBuf(len(text)), text)
	if err != nil {
		d.Problem = manifest.Problemf(ErrBase64, "line %d: %v", r.line, err)
		return
	}
	rest := r.buf[:n]
	if bytes.Contains(rest, []byte("PRIVATE KEY")) {
		d.Problem = manifest.Problemf(ErrPrivateKey, "line %d", r.line)
		return
	}
	var leaf *pem.Block
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			d.Problem = manifest.Problemf(ErrBlockType, "line %d: a %q block", r.line, manifest.Truncate(b.Type, 40))
			return
		}
		if leaf == nil {
			leaf = b
			continue
		}
		d.Chain = append(d.Chain, b.Bytes)
	}
	if leaf == nil {
		d.Problem = manifest.Problemf(ErrNoPEM, "line %d: the decoded text holds none", r.line)
		d.Chain = nil
		return
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Bytes})
	if int64(len(data)) > r.limits.MaxEntryBytes {
		d.Problem = manifest.Problemf(manifest.ErrTooLarge, "line %d: certificate over %d bytes", r.line, r.limits.MaxEntryBytes)
		d.Chain = nil
		return
	}
	d.Data = data
}

func (r *Reader) decodeBuf(n int) []byte {
	n = base64.StdEncoding.DecodedLen(n)
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	return r.buf
}

// splitter is a bufio.SplitFunc of lines that, rather than failing on a
// line longer than max, skips it and returns it as an empty token with
// tooLong set, so that the reader reports that line and goes on.
type splitter struct {
	max      int
	in       *manifest.CappedReader
	skipping bool // inside a line over max
	tooLong  bool // the token returned is a line over max
}

func (s *splitter) split(data []byte, atEOF bool) (int, []byte, error) {
	s.tooLong = false
	if atEOF && s.in.Err() != nil {
		return 0, nil, s.in.Err() // not a last line cut short by an error
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		if s.skipping {
			s.skipping, s.tooLong = false, true
			return i + 1, data[:0], nil
		}
		return i + 1, data[:i], nil
	}
	if atEOF {
		if s.skipping {
			s.skipping, s.tooLong = false, true
			return len(data), data[:0], nil
		}
		if len(data) == 0 {
			return 0, nil, nil
		}
		return len(data), data, nil
	}
	if len(data) > s.max {
		s.skipping = true
		return len(data), nil, nil
	}
	return 0, nil, nil
}

var _ manifest.Source = (*Reader)(nil)
