package generated

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the files under testdata")

// writeMixed writes testdata/mixed.txt: good lines and bad ones.
func writeMixed(t *testing.T) {
	t.Helper()
	c := newTestChain(t)
	leaf := lfPEM(c.leaf)
	lines := []string{
		b64(leaf),
		b64(leaf + lfPEM(c.inter) + lfPEM(c.root)),
		"",
		b64(leaf)[:201],
		b64("just text\n"),
		b64("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"),
		b64(strings.ReplaceAll(leaf, "\n", "\r\n")),
	}
	doc := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join("testdata", "mixed.txt"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGolden reads testdata/mixed.txt and compares what each line yields
// with testdata/mixed.golden. Run with -update to rewrite both.
func TestGolden(t *testing.T) {
	if *update {
		writeMixed(t)
	}
	r, err := Open(filepath.Join("testdata", "mixed.txt"), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b strings.Builder
	for {
		d, err := r.NextDevice()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		outcome := "ok"
		if d.Problem != nil {
			outcome = d.Problem.Error()
		}
		fmt.Fprintf(&b, "%s data=%d chain=%d: %s\n", d.Entry, len(d.Data), len(d.Chain), outcome)
	}
	golden := filepath.Join("testdata", "mixed.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", b.String(), golden, want)
	}
}
