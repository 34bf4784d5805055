package manifest

import (
	"fmt"
	"io"
)

// CappedReader reads an untrusted input for a decoder and fails with an
// error wrapping ErrTooLarge once more than the total cap is read or, if
// parts are capped (CapParts), more than the part cap since the last
// Mark. Its first error other than io.EOF is final. It is not safe for
// concurrent use.
type CappedReader struct {
	r        io.Reader
	n        int64 // bytes read in all
	mark     int64
	totalCap int64
	part     string
	partCap  int64
	chunk    int64  // the most one Read returns; 0: no such cap
	exceeded string // the cap exceeded, for messages
	err      error  // the first error other than io.EOF
	inputErr error  // err if it is the input's
}

// NewCappedReader returns a reader of r that fails after totalCap bytes.
func NewCappedReader(r io.Reader, totalCap int64) *CappedReader {
	return &CappedReader{r: r, totalCap: totalCap}
}

// CapParts makes c fail once more than partCap bytes, give or take one
// Read of look-ahead, are read since the last Mark. Each Read returns at
// most chunk bytes, so that what a decoder reads ahead is bounded too.
// part names what is capped, e.g. "a CSV record". It returns c.
func (c *CappedReader) CapParts(part string, partCap int64, chunk int) *CappedReader {
	c.part, c.partCap, c.chunk = part, partCap, int64(chunk)
	return c
}

// Mark starts a new part: call it where a record or element begins.
func (c *CappedReader) Mark() { c.mark = c.n }

// Read reads from the input within the caps.
func (c *CappedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.partCap > 0 && c.n-c.mark >= c.partCap+c.chunk {
		return 0, c.tooLarge(fmt.Sprintf("%s longer than %d bytes", c.part, c.partCap))
	}
	if c.n >= c.totalCap {
		// One byte more tells an input of exactly totalCap from a longer one.
		var one [1]byte
		if k, err := io.ReadFull(c.r, one[:]); k == 0 {
			if err != io.EOF {
				c.err, c.inputErr = err, err
			}
			return 0, err
		}
		return 0, c.tooLarge(fmt.Sprintf("input longer than %d bytes", c.totalCap))
	}
	limit := c.totalCap - c.n
	if c.chunk > 0 {
		limit = min(limit, c.chunk)
	}
	p = p[:min(int64(len(p)), limit)]
	k, err := c.r.Read(p)
	c.n += int64(k)
	if err != nil && err != io.EOF {
		c.err, c.inputErr = err, err
	}
	return k, err
}

func (c *CappedReader) tooLarge(msg string) error {
	c.exceeded = msg
	c.err = fmt.Errorf("%w: %s", ErrTooLarge, msg)
	return c.err
}

// Err returns the first error other than io.EOF: a cap's or the input's.
func (c *CappedReader) Err() error { return c.err }

// InputErr returns the input's first error other than io.EOF, or nil.
func (c *CappedReader) InputErr() error { return c.inputErr }

// Exceeded says which cap was exceeded, e.g. "input longer than 100
// bytes"; it is empty while none is.
func (c *CappedReader) Exceeded() string { return c.exceeded }

// ProgressReader returns a reader of r that fails with io.ErrNoProgress
// once r returns nothing, and no error, 100 times in a row, as bufio does:
// a decoder fed a stream shorter than it expects may do so for ever.
func ProgressReader(r io.Reader) io.Reader { return &progressReader{r: r} }

type progressReader struct {
	r     io.Reader
	empty int
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 || err != nil || len(b) == 0 {
		p.empty = 0
	} else if p.empty++; p.empty == 100 {
		return 0, io.ErrNoProgress
	}
	return n, err
}
