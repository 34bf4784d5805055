package manifest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCappedReader(t *testing.T) {
	fail := errors.New("disk on fire")
	tests := []struct {
		name     string
		in       io.Reader
		totalCap int64
		partCap  int64 // 0: parts not capped
		chunk    int
		markAt   int64 // Mark once this many bytes are read
		read     int   // bytes read before the error
		want     error // nil: io.EOF after read bytes
		msg      string
		inputErr bool
	}{
		{name: "within the cap", in: strings.NewReader("abcdef"), totalCap: 10, read: 6},
		{name: "exactly the cap", in: strings.NewReader("abcdef"), totalCap: 6, read: 6},
		{name: "one byte over", in: strings.NewReader("abcdefg"), totalCap: 6, read: 6, want: ErrTooLarge, msg: "manifest exceeds a size limit: input longer than 6 bytes"},
		{name: "read error at the cap", in: io.MultiReader(strings.NewReader("abcdef"), iotest.ErrReader(fail)), totalCap: 6, read: 6, want: fail, msg: "disk on fire", inputErr: true},
		{name: "read error", in: io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(fail)), totalCap: 6, read: 3, want: fail, msg: "disk on fire", inputErr: true},
		{
			name: "part over its cap and a chunk", in: strings.NewReader(strings.Repeat("x", 100)), totalCap: 100, partCap: 10, chunk: 4,
			read: 16, want: ErrTooLarge, msg: "manifest exceeds a size limit: a part longer than 10 bytes",
		},
		{
			name: "a mark starts a new part", in: strings.NewReader(strings.Repeat("x", 100)), totalCap: 100, partCap: 10, chunk: 4, markAt: 12,
			read: 28, want: ErrTooLarge, msg: "a part longer than 10 bytes",
		},
		{name: "parts within their cap and a chunk", in: strings.NewReader(strings.Repeat("x", 13)), totalCap: 100, partCap: 10, chunk: 4, read: 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCappedReader(tt.in, tt.totalCap)
			if tt.partCap > 0 {
				c.CapParts("a part", tt.partCap, tt.chunk)
			}
			var (
				n   int
				err error
				buf = make([]byte, 64)
			)
			for err == nil {
				if tt.markAt > 0 && int64(n) >= tt.markAt {
					c.Mark()
					tt.markAt = 0
				}
				var k int
				k, err = c.Read(buf)
				if tt.chunk > 0 && k > tt.chunk {
					t.Fatalf("one Read returned %d bytes, more than the chunk of %d", k, tt.chunk)
				}
				n += k
			}
			if n != tt.read {
				t.Errorf("read %d bytes, want %d", n, tt.read)
			}
			if tt.want == nil {
				if !errors.Is(err, io.EOF) || c.Err() != nil || c.Exceeded() != "" {
					t.Errorf("error %v, Err %v, Exceeded %q; want io.EOF only", err, c.Err(), c.Exceeded())
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want %v containing %q", err, tt.want, tt.msg)
			}
			if k, again := c.Read(buf); k != 0 || !errors.Is(again, err) || !errors.Is(c.Err(), err) {
				t.Errorf("Read after the error: %d, %v; Err %v; want the same error", k, again, c.Err())
			}
			if got := c.InputErr() != nil; got != tt.inputErr {
				t.Errorf("InputErr %v", c.InputErr())
			}
			if errors.Is(tt.want, ErrTooLarge) && !strings.HasSuffix(tt.msg, c.Exceeded()) || !errors.Is(tt.want, ErrTooLarge) && c.Exceeded() != "" {
				t.Errorf("Exceeded %q", c.Exceeded())
			}
		})
	}
}

// FuzzCappedReader reads arbitrary input under arbitrary caps, marking a
// new part now and then, and checks that what comes out is the input's
// start, within the caps, and ends in io.EOF only when all was read.
func FuzzCappedReader(f *testing.F) {
	f.Add([]byte("abcdef"), uint16(6), uint8(0), uint8(0), uint8(0))
	f.Add([]byte(strings.Repeat("x", 100)), uint16(100), uint8(10), uint8(4), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, totalCap uint16, partCap, chunk, markEvery uint8) {
		c := NewCappedReader(iotest.HalfReader(bytes.NewReader(in)), int64(totalCap))
		if partCap > 0 {
			c.CapParts("a part", int64(partCap), int(chunk)+1)
		}
		var out []byte
		buf := make([]byte, 300)
		part, reads := 0, 0
		for {
			if markEvery > 0 && reads%int(markEvery) == 0 {
				c.Mark()
				part = 0
			}
			k, err := c.Read(buf)
			reads++
			out = append(out, buf[:k]...)
			part += k
			if partCap > 0 && part > int(partCap)+2*(int(chunk)+1) {
				t.Fatalf("a part of %d bytes, over the cap of %d and two chunks of %d", part, partCap, int(chunk)+1)
			}
			if err == nil {
				continue
			}
			if len(out) > int(totalCap) || !bytes.Equal(out, in[:len(out)]) {
				t.Fatalf("read %d bytes that are not the input's start within %d", len(out), totalCap)
			}
			switch {
			case errors.Is(err, io.EOF):
				if len(out) != len(in) || c.Err() != nil {
					t.Fatalf("io.EOF after %d of %d bytes, Err %v", len(out), len(in), c.Err())
				}
			case errors.Is(err, ErrTooLarge):
				if c.Exceeded() == "" || partCap == 0 && len(in) <= int(totalCap) {
					t.Fatalf("%v for %d bytes within %d", err, len(in), totalCap)
				}
			default:
				t.Fatalf("error %v", err)
			}
			return
		}
	})
}

// emptyReads returns 0, nil empty times before each read of r.
type emptyReads struct {
	r     io.Reader
	empty int
	left  int
}

func (e *emptyReads) Read(p []byte) (int, error) {
	if e.left > 0 {
		e.left--
		return 0, nil
	}
	e.left = e.empty
	return e.r.Read(p)
}

func TestProgressReader(t *testing.T) {
	tests := []struct {
		name  string
		empty int // empty reads before each read
		want  error
	}{
		{name: "no empty reads", empty: 0},
		{name: "99 empty reads between data", empty: 99},
		{name: "100 empty reads", empty: 100, want: io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ProgressReader(&emptyReads{r: iotest.OneByteReader(strings.NewReader("abc")), empty: tt.empty, left: tt.empty})
			got, err := io.ReadAll(r)
			switch {
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("ReadAll = %q, %v, want %v", got, err, tt.want)
			case tt.want == nil && (err != nil || string(got) != "abc"):
				t.Fatalf("ReadAll = %q, %v, want \"abc\"", got, err)
			}
		})
	}
}
