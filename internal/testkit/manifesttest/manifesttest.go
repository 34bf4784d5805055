package manifesttest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the files under testdata")

// Update reports whether the test runs with -update, to rewrite golden
// files and the manifests they come from.
func Update() bool { return *update }

// Golden compares got with the golden file at path, having rewritten the
// file first under -update.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", got, path, want)
	}
}

// Collect returns the records of next up to io.EOF, or those before the
// first other error and that error.
func Collect[D any](next func() (D, error)) ([]D, error) {
	var out []D
	for {
		d, err := next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
}

// All returns every record of next, failing the test on an error.
func All[D any](t testing.TB, next func() (D, error)) []D {
	t.Helper()
	devs, err := Collect(next)
	if err != nil {
		t.Fatal(err)
	}
	return devs
}

// Single returns the one record of devs, failing the test on err or on
// another number of records.
func Single[D any](t testing.TB, devs []D, err error) D {
	t.Helper()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if len(devs) != 1 {
		t.Fatalf("%d devices, want 1", len(devs))
	}
	return devs[0]
}

// Lines returns every record of next formatted by line, one a line,
// failing the test on an error.
func Lines[D any](t testing.TB, next func() (D, error), line func(D) string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range All(t, next) {
		b.WriteString(line(d))
		b.WriteByte('\n')
	}
	return b.String()
}

// Outcome is "ok" for a record without a Problem, else the Problem.
func Outcome(problem error) string {
	if problem == nil {
		return "ok"
	}
	return problem.Error()
}

// CheckFatal checks that err is a *manifest.Error naming file and entry,
// wrapping want, and containing msg.
func CheckFatal(t testing.TB, err error, file string, want error, entry, msg string) {
	t.Helper()
	var me *manifest.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *manifest.Error", err, err)
	}
	if me.File != file || me.Entry != entry {
		t.Errorf("error names file %q entry %q, want %s and %q", me.File, me.Entry, file, entry)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %v", err, want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
}

// Drain reads every record of next, as a fuzz target does: it checks that
// the reader ends in io.EOF or in a *manifest.Error naming file and
// wrapping one of kinds, which next then returns again, and yields at
// most maxRecords, each of which check sees. It reports whether the
// reader ended in io.EOF.
func Drain[D any](t testing.TB, next func() (D, error), file string, maxRecords int, kinds []error, check func(D)) (accepted bool) {
	t.Helper()
	for n := 0; ; n++ {
		d, err := next()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			var me *manifest.Error
			if !errors.As(err, &me) || me.File != file {
				t.Fatalf("error %v (%T) is not a *manifest.Error naming the file", err, err)
			}
			if !slices.ContainsFunc(kinds, func(k error) bool { return errors.Is(err, k) }) {
				t.Fatalf("error of an unknown kind: %v", err)
			}
			if _, again := next(); !errors.Is(again, err) {
				t.Fatalf("Next after error %q returned %v", err, again)
			}
			return false
		}
		if n >= maxRecords {
			t.Fatalf("more than %d records", maxRecords)
		}
		check(d)
	}
}

// Count reads next up to io.EOF, failing the test at any other error,
// and returns how many records it yielded; check sees each. It keeps
// none, so that a benchmark's allocations are the reader's.
func Count[D any](t testing.TB, next func() (D, error), check func(D)) int {
	t.Helper()
	for n := 0; ; n++ {
		d, err := next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		check(d)
	}
}

// Cached returns the path of the file name in os.TempDir, which write
// fills the first time: a benchmark's manifest, made once and reused by
// later runs. The file appears whole or not at all; Cached checks the
// errors the bufio.Writer keeps.
func Cached(t testing.TB, name string, write func(w *bufio.Writer)) string {
	t.Helper()
	path := filepath.Join(os.TempDir(), name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	t.Logf("generating %s", path)
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	write(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// SamplePath returns the path of a shared sample manifest, whether or
// not it is there.
func SamplePath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(moduleRoot(t), "..", "shared", "fixtures", "thingpress-artifacts", name)
}

// moduleRoot returns the directory of go.mod above the test's.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Sample returns the path of a shared sample manifest, skipping the test
// with a message if it is missing.
func Sample(t testing.TB, name string) string {
	t.Helper()
	path := SamplePath(t, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("sample manifest missing (needs ../shared): %v", err)
	}
	return path
}

// AddSample adds the sample manifest name, cut to limit bytes if limit > 0,
// to the fuzz corpus if the shared fixtures are there.
func AddSample(f *testing.F, name string, limit int) {
	f.Helper()
	b, err := os.ReadFile(SamplePath(f, name))
	if err != nil {
		return
	}
	if limit > 0 {
		b = b[:min(len(b), limit)]
	}
	f.Add(b)
}

// CheckSHA256 fails the test if the file at path does not hash to want,
// so that a changed sample cannot skew what a test counts.
func CheckSHA256(t testing.TB, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
		t.Fatalf("%s has SHA-256 %x, want %s: the sample changed", path, sum, want)
	}
}

// Slice is a manifest.Source of fixed records: it yields Recs in order,
// then Err, or io.EOF when Err is nil.
type Slice struct {
	Recs []manifest.Record
	Err  error
}

// Next returns the next record of Recs, then Err or io.EOF.
func (s *Slice) Next() (manifest.Record, error) {
	if len(s.Recs) == 0 {
		if s.Err != nil {
			return manifest.Record{}, s.Err
		}
		return manifest.Record{}, io.EOF
	}
	r := s.Recs[0]
	s.Recs = s.Recs[1:]
	return r, nil
}

// Close does nothing.
func (s *Slice) Close() error { return nil }

// Repeat yields its byte forever.
type Repeat byte

func (r Repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// Counting counts the bytes read through it in N.
type Counting struct {
	R io.Reader
	N int64
}

func (c *Counting) Read(p []byte) (int, error) {
	k, err := c.R.Read(p)
	c.N += int64(k)
	return k, err
}

// Hostile returns prefix, then n bytes of fill, then suffix, counting
// what is read.
func Hostile(prefix string, fill byte, n int64, suffix string) *Counting {
	return &Counting{R: io.MultiReader(strings.NewReader(prefix), io.LimitReader(Repeat(fill), n), strings.NewReader(suffix))}
}
