package manifest

import (
	"errors"
	"io"
	"testing"
)

type closeCounter struct{ n int }

func (c *closeCounter) Close() error { c.n++; return nil }

func TestFinal(t *testing.T) {
	errBad := errors.New("bad input")
	errClosed := errors.New("reader is closed")
	calls := 0
	next := func() (int, error) {
		calls++
		if calls == 2 {
			return 7, errBad
		}
		return calls, nil
	}
	var f Final
	c := &closeCounter{}
	f.Own(c)
	if v, err := Next(&f, next); v != 1 || err != nil {
		t.Fatalf("first: %d, %v", v, err)
	}
	for range 2 {
		if v, err := Next(&f, next); v != 0 || !errors.Is(err, errBad) {
			t.Fatalf("after the error: %d, %v; want 0 and the first error", v, err)
		}
	}
	if calls != 2 {
		t.Errorf("next called %d times after a final error", calls)
	}
	for range 2 {
		if err := f.Close("m.csv", errClosed); err != nil {
			t.Fatal(err)
		}
	}
	if c.n != 1 {
		t.Errorf("closed %d times, want once", c.n)
	}
	_, err := Next(&f, next)
	var me *Error
	if !errors.As(err, &me) || me.File != "m.csv" || !errors.Is(err, errClosed) || errors.Is(err, io.EOF) {
		t.Errorf("after Close: %v", err)
	}
}
