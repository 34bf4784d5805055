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
