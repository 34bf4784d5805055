package lambdarun

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/stack"
)

// ErrEnv marks a missing or unusable environment variable.
var ErrEnv = errors.New("bad environment")

// Env reads environment variables; os.Getenv fits, tests pass a map's
// lookup.
type Env func(string) string

// String returns the variable, trimmed, or def when it is empty.
func (e Env) String(name, def string) string {
	if v := strings.TrimSpace(e(name)); v != "" {
		return v
	}
	return def
}

// Required returns the variable, trimmed, or an error when it is empty.
func (e Env) Required(name string) (string, error) {
	v := strings.TrimSpace(e(name))
	if v == "" {
		return "", fmt.Errorf("%w: %s is not set", ErrEnv, name)
	}
	return v, nil
}

// List splits a comma-separated variable, dropping empty items.
func (e Env) List(name string) []string {
	var out []string
	for _, s := range strings.Split(e(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Int returns the variable as an integer in [lo, hi], or def when it is
// empty.
func (e Env) Int(name string, def, lo, hi int64) (int64, error) {
	v := strings.TrimSpace(e(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s=%q: want a whole number from %d to %d", ErrEnv, name, v, lo, hi)
	}
	return n, nil
}

// Float returns the variable as a positive finite number, or def when it
// is empty.
func (e Env) Float(name string, def float64) (float64, error) {
	v := strings.TrimSpace(e(name))
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: %s=%q: want a positive number", ErrEnv, name, v)
	}
	return f, nil
}

// Target reads where devices go (policies, thing type, thing groups), as
// both functions need it; at least one policy is required.
func (e Env) Target() (awsiot.Target, error) {
	t := awsiot.Target{
		Policies:    e.List(stack.EnvPolicyNames),
		ThingType:   e.String(stack.EnvThingType, ""),
		ThingGroups: e.List(stack.EnvThingGroups),
	}
	if len(t.Policies) == 0 {
		return t, fmt.Errorf("%w: %s is not set", ErrEnv, stack.EnvPolicyNames)
	}
	return t, nil
}

// Job reads what both functions need first: the import queue's URL and
// where devices go (Target).
func (e Env) Job() (queueURL string, t awsiot.Target, err error) {
	if queueURL, err = e.Required(stack.EnvImportQueueURL); err != nil {
		return "", t, err
	}
	t, err = e.Target()
	return queueURL, t, err
}
