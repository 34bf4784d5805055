package envtest

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/lambdarun"
)

// With returns a copy of base with the pairs name, value, ... of kv set.
func With(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// Config returns what configFromEnv makes of env, and whether there is a
// config to check. With wantErr set it fails t unless configFromEnv fails
// with lambdarun.ErrEnv naming wantErr, and returns false; without, any
// error fails t.
func Config[C any](t testing.TB, configFromEnv func(lambdarun.Env) (C, error), env map[string]string, wantErr string) (C, bool) {
	t.Helper()
	c, err := configFromEnv(func(k string) string { return env[k] })
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) || !errors.Is(err, lambdarun.ErrEnv) {
			t.Fatalf("error %v, want ErrEnv naming %s", err, wantErr)
		}
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}
