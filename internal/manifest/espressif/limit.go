package espressif

import (
	"fmt"
	"io"
)

// readAhead is what encoding/csv's bufio.Reader may read beyond the
// record it parses.
const readAhead = 4096

// limitError is the error of the limited reader when a cap is exceeded.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// limitedReader fails once more than rowCap bytes (plus the look-ahead)
// are read since the last mark, the start of a record, or more than
// totalCap bytes in all.
type limitedReader struct {
	r        io.Reader
	n        int64
	mark     int64
	rowCap   int64
	totalCap int64
	ioErr    error // the input's error if other than io.EOF
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n-l.mark >= l.rowCap+readAhead {
		return 0, &limitError{fmt.Sprintf("a CSV record longer than %d bytes", l.rowCap)}
	}
	if l.n >= l.totalCap {
		var one [1]byte
		if k, err := io.ReadFull(l.r, one[:]); k == 0 {
			if err != io.EOF {
				l.ioErr = err
			}
			return 0, err
		}
		return 0, &limitError{fmt.Sprintf("input longer than %d bytes", l.totalCap)}
	}
	p = p[:min(int64(len(p)), readAhead, l.totalCap-l.n)]
	k, err := l.r.Read(p)
	l.n += int64(k)
	if err != nil && err != io.EOF {
		l.ioErr = err
	}
	return k, err
}
