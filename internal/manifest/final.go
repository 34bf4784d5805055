package manifest

import (
	"errors"
	"io"
	"os"
)

// Final holds what every reader's NextDevice and Close share: the first
// error is final, and Close makes later calls fail and closes the file
// Open opened. A reader embeds it as a field.
type Final struct {
	err    error
	closer io.Closer
}

// Own makes Close close c.
func (f *Final) Own(c io.Closer) { f.closer = c }

// OpenFile is a reader's Open: it opens the file at path and gives it to
// newReader, which returns the reader of it and the reader's Final; that
// Final's Close closes the file. An error opening it is an *Error
// naming path.
func OpenFile[R any](path string, newReader func(io.Reader) (R, *Final)) (R, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero R
		return zero, &Error{File: path, Err: err}
	}
	r, final := newReader(f)
	final.Own(f)
	return r, nil
}

// Next returns what next returns, unless an earlier error was final; an
// error from next is final.
func Next[D any](f *Final, next func() (D, error)) (D, error) {
	var zero D
	if f.err != nil {
		return zero, f.err
	}
	d, err := next()
	if err != nil {
		f.err = err
		return zero, err
	}
	return d, nil
}

// Close makes every later Next return an *Error of closed naming file,
// and closes what Own was given, once.
func (f *Final) Close(file string, closed error) error {
	if !errors.Is(f.err, closed) {
		f.err = &Error{File: file, Err: closed}
	}
	if c := f.closer; c != nil {
		f.closer = nil
		return c.Close()
	}
	return nil
}
