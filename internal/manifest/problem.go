package manifest

import (
	"errors"
	"fmt"
)

// Problemf returns an error for Record.Problem: err's message and the
// details after it. errors.Is finds err, a reader's sentinel, and
// ErrMalformed unless err is ErrTooLarge.
func Problemf(err error, format string, args ...any) error {
	kind := ErrMalformed
	if errors.Is(err, ErrTooLarge) {
		kind = nil
	}
	return NewProblem(err, kind, format, args...)
}

// NewProblem returns an error for Record.Problem: err's message and the
// details after it. errors.Is finds err, a reader's sentinel, and kind, a
// sentinel of this package such as ErrMalformed (nil for none).
func NewProblem(err, kind error, format string, args ...any) error {
	return &problem{err: err, kind: kind, msg: err.Error() + ": " + fmt.Sprintf(format, args...)}
}

type problem struct {
	err  error
	kind error
	msg  string
}

func (p *problem) Error() string { return p.msg }

func (p *problem) Unwrap() []error {
	if p.kind == nil {
		return []error{p.err}
	}
	return []error{p.err, p.kind}
}

// Truncate cuts s to n bytes and marks the cut with "...", for quoting
// untrusted text in messages.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
