package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadMeta reports a Meta that cannot name a state file.
var ErrBadMeta = errors.New("invalid state meta")

// maxSlotInName bounds the slot's share of a file name; the hash in the
// name tells apart slots that agree on their first characters.
const maxSlotInName = 64

// DefaultPath returns where the state of the import meta describes lives:
// $XDG_STATE_HOME/thingpress/ (or ~/.local/state/thingpress/ when
// XDG_STATE_HOME is unset or not absolute, as the XDG spec says) and
//
//	<first 16 hex of the manifest SHA-256>-<slot>-<8 hex>.state
//
// where the 8 hex digits start the SHA-256 of the manifest hash, slot,
// region and endpoint, so that imports differing in any of them get their
// own file even where the slot had to be cleaned up for a file name
// (characters other than letters, digits, '.', '_' and '-' become '_').
func DefaultPath(meta Meta) (string, error) {
	name, err := fileName(meta)
	if err != nil {
		return "", err
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("state directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "thingpress", name), nil
}

func fileName(meta Meta) (string, error) {
	sum := strings.ToLower(meta.ManifestSHA256)
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("manifest SHA-256 %q is not 64 hex digits: %w", meta.ManifestSHA256, ErrBadMeta)
	}
	h := sha256.Sum256([]byte(strings.Join([]string{sum, meta.Slot, meta.Region, meta.Endpoint}, "\x00")))
	return fmt.Sprintf("%s-%s-%s.state", sum[:16], cleanSlot(meta.Slot), hex.EncodeToString(h[:4])), nil
}

// cleanSlot makes slot safe as part of a file name on any system.
func cleanSlot(slot string) string {
	if slot == "" {
		return "noslot"
	}
	var b strings.Builder
	for i, r := range slot {
		if i >= maxSlotInName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// HashFile returns the hex SHA-256 of the file at path, read as a stream.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash manifest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash manifest %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
