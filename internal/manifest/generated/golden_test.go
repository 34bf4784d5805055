package generated

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

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
	if manifesttest.Update() {
		writeMixed(t)
	}
	r, err := Open(filepath.Join("testdata", "mixed.txt"), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := manifesttest.Lines(t, r.NextDevice, func(d Device) string {
		return fmt.Sprintf("%s data=%d chain=%d: %s", d.Entry, len(d.Data), len(d.Chain), manifesttest.Outcome(d.Problem))
	})
	manifesttest.Golden(t, filepath.Join("testdata", "mixed.golden"), got)
}
