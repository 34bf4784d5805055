package state_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/state"
)

func TestDefaultPath(t *testing.T) {
	// Not parallel: it sets environment variables.
	home := t.TempDir()
	xdg := t.TempDir()
	wantName, err := state.FileName(testMeta())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		xdg     string
		want    string
		wantErr error
		meta    func(*state.Meta)
	}{
		{name: "XDG_STATE_HOME", xdg: xdg, want: filepath.Join(xdg, "thingpress", wantName)},
		{name: "unset", xdg: "", want: filepath.Join(home, ".local", "state", "thingpress", wantName)},
		{name: "relative XDG_STATE_HOME is ignored", xdg: "rel/dir", want: filepath.Join(home, ".local", "state", "thingpress", wantName)},
		{name: "short manifest hash", xdg: xdg, meta: func(m *state.Meta) { m.ManifestSHA256 = "abc" }, wantErr: state.ErrBadMeta},
		{name: "non-hex manifest hash", xdg: xdg, meta: func(m *state.Meta) { m.ManifestSHA256 = strings.Repeat("z", 64) }, wantErr: state.ErrBadMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("XDG_STATE_HOME", tt.xdg)
			meta := testMeta()
			if tt.meta != nil {
				tt.meta(&meta)
			}
			got, err := state.DefaultPath(meta)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("DefaultPath = %q, %v; want error %v", got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("DefaultPath = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFileName(t *testing.T) {
	t.Parallel()
	base, err := state.FileName(testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, testSHA[:16]+"-prod-") || !strings.HasSuffix(base, ".state") || len(base) != 16+len("-prod-")+8+len(".state") {
		t.Fatalf("FileName = %q, want %s-prod-<8 hex>.state", base, testSHA[:16])
	}
	tests := []struct {
		name       string
		change     func(*state.Meta)
		wantSame   bool
		wantSlotAs string // the slot part of the name, if checked
	}{
		{name: "policies do not matter", change: func(m *state.Meta) { m.Policies = nil; m.ThingGroups = []string{"x"} }, wantSame: true},
		{name: "upper-case hash is the same import", change: func(m *state.Meta) { m.ManifestSHA256 = strings.ToUpper(testSHA) }, wantSame: true},
		{name: "region", change: func(m *state.Meta) { m.Region = "us-east-1" }},
		{name: "endpoint", change: func(m *state.Meta) { m.Endpoint = "http://127.0.0.1:5000" }},
		{name: "slot", change: func(m *state.Meta) { m.Slot = "staging" }, wantSlotAs: "staging"},
		{name: "slot with a separator", change: func(m *state.Meta) { m.Slot = "a/b c" }, wantSlotAs: "a_b_c"},
		{name: "slot that cleans up like another", change: func(m *state.Meta) { m.Slot = "prod/" }, wantSlotAs: "prod_"},
		{name: "empty slot", change: func(m *state.Meta) { m.Slot = "" }, wantSlotAs: "noslot"},
		{name: "long slot", change: func(m *state.Meta) { m.Slot = strings.Repeat("s", 300) }, wantSlotAs: strings.Repeat("s", 64)},
		{name: "parent-directory slot", change: func(m *state.Meta) { m.Slot = ".." }, wantSlotAs: ".."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			meta := testMeta()
			tt.change(&meta)
			got, err := state.FileName(meta)
			if err != nil {
				t.Fatal(err)
			}
			if (got == base) != tt.wantSame {
				t.Errorf("FileName = %q, base %q: same = %v, want %v", got, base, got == base, tt.wantSame)
			}
			if filepath.Base(got) != got {
				t.Errorf("FileName = %q is not a plain file name", got)
			}
			if tt.wantSlotAs != "" {
				if want := testSHA[:16] + "-" + tt.wantSlotAs + "-"; !strings.HasPrefix(got, want) {
					t.Errorf("FileName = %q, want prefix %q", got, want)
				}
			}
		})
	}
}

func TestHashFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := strings.Repeat("0123456789abcdef", 100_000) // larger than any copy buffer
	tests := []struct {
		name    string
		content *string
	}{
		{name: "empty", content: new("")},
		{name: "small", content: new("test")},
		{name: "large", content: &big},
		{name: "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tt.name)
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := state.HashFile(path)
			if tt.content == nil {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("HashFile(missing) = %q, %v; want ErrNotExist", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(*tt.content))
			if want := hex.EncodeToString(sum[:]); got != want {
				t.Errorf("HashFile = %s, want %s", got, want)
			}
		})
	}
}
