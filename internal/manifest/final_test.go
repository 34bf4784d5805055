package manifest

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

func TestOpenFile(t *testing.T) {
	type reader struct {
		in    io.Reader
		final Final
	}
	newReader := func(in io.Reader) (*reader, *Final) {
		r := &reader{in: in}
		return r, &r.final
	}
	missing := filepath.Join(t.TempDir(), "missing.csv")
	r, err := OpenFile(missing, newReader)
	var me *Error
	if r != nil || !errors.As(err, &me) || me.File != missing || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, %v; want nil and an *Error naming it", r, err)
	}
	path := filepath.Join(t.TempDir(), "m.csv")
	if err := os.WriteFile(path, []byte("MAC"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = OpenFile(path, newReader)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r.in); err != nil || string(b) != "MAC" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := r.final.Close(path, errors.New("closed")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.in.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after Close: %v; want the file closed", err)
	}
}

func TestWithAttributes(t *testing.T) {
	rec := Record{Entry: "row 1", ChipID: "AB"}
	tests := []struct {
		name string
		a    map[string]string
		want map[string]string
	}{
		{name: "nil", a: nil, want: nil},
		{name: "empty", a: map[string]string{}, want: nil},
		{name: "some", a: map[string]string{"cn": "x"}, want: map[string]string{"cn": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rec.WithAttributes(tt.a)
			if got.Entry != rec.Entry || got.ChipID != rec.ChipID || (got.Attributes == nil) != (tt.want == nil) || len(got.Attributes) != len(tt.want) || got.Attributes["cn"] != tt.want["cn"] {
				t.Errorf("WithAttributes(%v) = %+v, want Attributes %v", tt.a, got, tt.want)
			}
		})
	}
}
