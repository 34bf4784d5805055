package microchip

import (
	"fmt"
	"io"
)

// maxRead caps one Read handed to the JSON decoder, so that what it
// reads ahead of the element it decodes is bounded too.
const maxRead = 32 << 10

// limitError is the error of the limited reader when a cap is exceeded.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// limitedReader fails once more than elemCap bytes are read since the
// last mark (the start of an array element, give or take one Read of
// look-ahead) or more than totalCap bytes in all.
type limitedReader struct {
	r        io.Reader
	n        int64 // bytes read in all
	mark     int64
	elemCap  int64
	totalCap int64
	ioErr    error // the input's error if other than io.EOF
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n-l.mark >= l.elemCap+maxRead {
		return 0, &limitError{fmt.Sprintf("an array element longer than %d bytes", l.elemCap)}
	}
	if l.n >= l.totalCap {
		// One byte more tells a file of exactly totalCap from a longer one.
		var one [1]byte
		if k, err := io.ReadFull(l.r, one[:]); k == 0 {
			if err != io.EOF {
				l.ioErr = err
			}
			return 0, err
		}
		return 0, &limitError{fmt.Sprintf("input longer than %d bytes", l.totalCap)}
	}
	p = p[:min(int64(len(p)), maxRead, l.totalCap-l.n)]
	k, err := l.r.Read(p)
	l.n += int64(k)
	if err != nil && err != io.EOF {
		l.ioErr = err
	}
	return k, err
}
