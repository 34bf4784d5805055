package manifest

import "fmt"

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
