package testbundle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
)

// SevenZip is the name of the 7-Zip command the package runs.
const SevenZip = generate.SevenZip

// Spec describes an outer 7z archive: an Infineon-like bundle, or any
// other archive a test needs.
type Spec struct {
	// Name is the outer archive's file name; empty means "bundle.7z".
	Name string
	// Members are the outer archive's members, added in this order.
	Members []Member
	// Password, if set, encrypts the outer archive's content.
	Password string
	// Level is the 7z compression level (-mx); 0 means 5. Use -1 for
	// "store" (no compression).
	Level int
	// Args are more switches for the outer archive's 7z a (see
	// ArchiveOptions.Args).
	Args []string
}

// Member is one member of an outer archive: a plain file (Data), or an
// inner 7z archive made of Files.
type Member struct {
	Name string
	// Data is the content of a plain member. Ignored when Files is set.
	Data []byte
	// Files, when not nil, makes the member a 7z archive of these files.
	Files []File
	// Password encrypts the inner archive's content (7z a -p).
	Password string
	// EncryptHeaders also encrypts the inner archive's file names
	// (7z -mhe=on); it needs Password.
	EncryptHeaders bool
	// Args are more switches for the inner archive's 7z a.
	Args []string
}

// File is one file of an inner archive. A Name ending in "/" is an
// empty directory.
type File struct {
	Name string
	Data []byte
}

// Require7z skips the test when the 7z command is missing, or fails it
// when CI=true, where a missing 7z means a broken CI setup.
func Require7z(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath(SevenZip); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s not found (install p7zip-full): %v", SevenZip, err)
		}
		tb.Skipf("%s not found (install p7zip-full): %v", SevenZip, err)
	}
}

// Write builds the archive s describes in dir and returns its path. It
// skips or fails tb as Require7z does when 7z is missing, and fails tb
// on any other error.
func Write(tb testing.TB, dir string, s Spec) string {
	tb.Helper()
	Require7z(tb)
	p, err := Build(dir, s)
	if err != nil {
		tb.Fatalf("testbundle: %v", err)
	}
	return p
}

// Build is Write without a testing.TB: it builds the archive s describes
// in dir and returns its path.
func Build(dir string, s Spec) (string, error) {
	name := s.Name
	if name == "" {
		name = "bundle.7z"
	}
	stage, err := os.MkdirTemp(dir, "stage-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)

	names := make([]string, 0, len(s.Members))
	for i, m := range s.Members {
		if m.Name == "" {
			return "", fmt.Errorf("member %d has no name", i)
		}
		dst := filepath.Join(stage, filepath.FromSlash(m.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if m.Files != nil {
			if err := buildInner(stage, dst, m, s.Level); err != nil {
				return "", fmt.Errorf("inner archive %s: %w", m.Name, err)
			}
		} else if err := os.WriteFile(dst, m.Data, 0o644); err != nil {
			return "", err
		}
		names = append(names, m.Name)
	}
	out := filepath.Join(dir, name)
	_ = os.Remove(out)
	if err := generate.Run7z(stage, out, generate.ArchiveOptions{Password: s.Password, Level: s.Level, Args: s.Args}, names...); err != nil {
		return "", err
	}
	return out, nil
}

func buildInner(stage, dst string, m Member, level int) error {
	src, err := os.MkdirTemp(stage, "inner-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	names := make([]string, 0, len(m.Files))
	for _, f := range m.Files {
		p := filepath.Join(src, filepath.FromSlash(f.Name))
		if strings.HasSuffix(f.Name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				return err
			}
		}
		names = append(names, strings.TrimSuffix(f.Name, "/"))
	}
	if m.EncryptHeaders && m.Password == "" {
		return errors.New("EncryptHeaders needs a Password")
	}
	return generate.Run7z(src, dst, generate.ArchiveOptions{Password: m.Password, EncryptHeaders: m.EncryptHeaders, Level: level, Args: m.Args}, names...)
}
