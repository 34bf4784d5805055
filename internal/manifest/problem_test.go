package manifest

import (
	"errors"
	"testing"
)

func TestNewProblem(t *testing.T) {
	errOwn := errors.New("bad thing")
	tests := []struct {
		name    string
		kind    error
		wantMsg string
		notKind error
	}{
		{name: "malformed", kind: ErrMalformed, wantMsg: "bad thing: row 3", notKind: ErrTooLarge},
		{name: "no kind", kind: nil, wantMsg: "bad thing: row 3", notKind: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProblem(errOwn, tt.kind, "row %d", 3)
			if p.Error() != tt.wantMsg || !errors.Is(p, errOwn) || tt.kind != nil && !errors.Is(p, tt.kind) || errors.Is(p, tt.notKind) {
				t.Errorf("problem %q: want %q wrapping %v and %v, not %v", p, tt.wantMsg, errOwn, tt.kind, tt.notKind)
			}
		})
	}
}

func TestProblemf(t *testing.T) {
	errOwn := errors.New("bad thing")
	p := Problemf(errOwn, "line %d", 2)
	if p.Error() != "bad thing: line 2" || !errors.Is(p, errOwn) || !errors.Is(p, ErrMalformed) || errors.Is(p, ErrTooLarge) {
		t.Errorf("problem %q", p)
	}
	p = Problemf(ErrTooLarge, "line %d over %d bytes", 2, 10)
	if p.Error() != "manifest exceeds a size limit: line 2 over 10 bytes" || !errors.Is(p, ErrTooLarge) || errors.Is(p, ErrMalformed) {
		t.Errorf("problem %q", p)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              int
	}{
		{name: "short", in: "abc", n: 3, want: "abc"},
		{name: "long", in: "abcdef", n: 3, want: "abc..."},
		{name: "empty", in: "", n: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Truncate(tt.in, tt.n); got != tt.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}
