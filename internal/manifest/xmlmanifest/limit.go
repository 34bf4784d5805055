package xmlmanifest

import (
	"fmt"
	"io"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
)

// limitError is the error of the limited reader when a cap is exceeded.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// limitedReader gives encoding/xml its input one byte at a time from its
// own buffer (the decoder uses an io.ByteReader as is), and fails once
// more than tokenCap bytes are consumed for one token (startToken is
// called before each Token) or more than totalCap bytes in all. It skips
// a leading UTF-8 byte order mark, which XML allows but encoding/xml
// would return as text before the root element.
type limitedReader struct {
	r        io.Reader
	buf      []byte
	pos, end int   // the unread bytes are buf[pos:end]
	limit    int   // ReadByte's fast path serves buf[pos:limit]
	off      int64 // stream offset of buf[0]
	tokStart int64 // stream offset where the current token began
	tokenCap int64
	totalCap int64
	err      error // the input's error, returned once buf is drained
	ioErr    error // the input's error if other than io.EOF
	started  bool
}

const readBufSize = 64 << 10

func newLimitedReader(r io.Reader, tokenCap, totalCap int64) *limitedReader {
	return &limitedReader{r: manifest.ProgressReader(r), buf: make([]byte, readBufSize), tokenCap: tokenCap, totalCap: totalCap}
}

// startToken starts counting the bytes of a new token.
func (l *limitedReader) startToken() {
	l.tokStart = l.off + int64(l.pos)
	l.setLimit()
}

// setLimit lets the fast path run up to the end of the buffer or the
// first cap, whichever comes first.
func (l *limitedReader) setLimit() {
	lim := min(int64(l.end), l.tokStart+l.tokenCap-l.off, l.totalCap-l.off)
	l.limit = int(max(lim, int64(l.pos)))
}

// ReadByte is small enough to be cheap; the caps and refills are in
// readByteSlow.
func (l *limitedReader) ReadByte() (byte, error) {
	if l.pos < l.limit {
		c := l.buf[l.pos]
		l.pos++
		return c, nil
	}
	return l.readByteSlow()
}

func (l *limitedReader) readByteSlow() (byte, error) {
	for {
		at := l.off + int64(l.pos)
		if at-l.tokStart >= l.tokenCap {
			return 0, &limitError{fmt.Sprintf("an XML token (text, tag, comment or directive) longer than %d bytes", l.tokenCap)}
		}
		if l.pos < l.end {
			if at >= l.totalCap {
				return 0, &limitError{fmt.Sprintf("input longer than %d bytes", l.totalCap)}
			}
			c := l.buf[l.pos]
			l.pos++
			l.setLimit()
			return c, nil
		}
		if l.err != nil {
			return 0, l.err
		}
		l.fill()
	}
}

// fill reads the next chunk of input into the empty buffer.
func (l *limitedReader) fill() {
	l.off += int64(l.end)
	l.pos, l.end = 0, 0
	want := 1
	if !l.started {
		want = 4 // a byte order mark, or "<?" in UTF-16 or UTF-32
	}
	for l.end < want && l.err == nil {
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if err != nil {
			l.err = err
			if err != io.EOF {
				l.ioErr = err
			}
		}
	}
	if !l.started {
		l.started = true
		if l.end >= len(utf8BOM) && string(l.buf[:len(utf8BOM)]) == utf8BOM {
			l.pos = len(utf8BOM)
		} else if enc := Encoding(l.buf[:l.end]); enc != "" {
			// encoding/xml would see a byte that is not UTF-8.
			l.pos, l.end = 0, 0
			l.err = &encodingError{enc: enc}
		}
	}
	l.setLimit()
}

const utf8BOM = "\xef\xbb\xbf"

// Encoding names the encoding of an XML document other than UTF-8 that
// its first four bytes show (see "Autodetection of Character Encodings"
// in the XML 1.0 recommendation): a UTF-16 or UTF-32 byte order mark, or
// "<" in UTF-16 or UTF-32 without one. It returns "" for anything else.
func Encoding(head []byte) string {
	boms := []struct{ b, enc string }{
		{"\x00\x00\xfe\xff", "UTF-32BE (byte order mark 00 00 FE FF)"},
		{"\xff\xfe\x00\x00", "UTF-32LE (byte order mark FF FE 00 00)"},
		{"\xfe\xff", "UTF-16BE (byte order mark FE FF)"},
		{"\xff\xfe", "UTF-16LE (byte order mark FF FE)"},
		{"\x00\x00\x00<", "UTF-32BE (no byte order mark)"},
		{"<\x00\x00\x00", "UTF-32LE (no byte order mark)"},
		{"\x00<\x00", "UTF-16BE (no byte order mark)"},
		{"<\x00", "UTF-16LE (no byte order mark)"},
	}
	for _, b := range boms {
		if strings.HasPrefix(string(head), b.b) {
			return b.enc
		}
	}
	return ""
}

// encodingError is the error of a document in UTF-16 or UTF-32.
type encodingError struct{ enc string }

func (e *encodingError) Error() string {
	return "text encoding " + e.enc
}

// Read lets encoding/xml hand the reader to Decoder.CharsetReader; the
// decoder itself uses ReadByte.
func (l *limitedReader) Read(p []byte) (int, error) {
	for i := range p {
		c, err := l.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}
