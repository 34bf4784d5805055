package espressif

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

// writeMixed writes testdata/mixed.csv: good rows and bad ones.
func writeMixed(t *testing.T) {
	t.Helper()
	cell := `"` + testPEM(t) + `"`
	doc := csvDoc("MAC,cn,cert",
		"4BA2BB8764BD,6d1d54ba-ed81-4c32-8e08-f9f8c885a6ed,"+cell,
		"e5b314da749d,32ded345-5f2f-487a-a5f1-1e24e030ce9f,"+cell,
		"E5:B3:14:DA:74:9D,x,"+cell,
		"5B62ACC6615E,"+cell,
		"060C6696C8B0,33a45a0b,",
		"5042C6471A9C,52b75492,MIIDfDCCAmSgAwIBAgIU",
	)
	if err := os.WriteFile(filepath.Join("testdata", "mixed.csv"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGolden reads testdata/mixed.csv and compares what each row yields
// with testdata/mixed.golden. Run with -update to rewrite both.
func TestGolden(t *testing.T) {
	if *update {
		writeMixed(t)
	}
	r, err := Open(filepath.Join("testdata", "mixed.csv"), manifest.Options{})
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
		fmt.Fprintf(&b, "%s chip=%s thing=%s cn=%s data=%t: %s\n", d.Entry, d.ChipID, d.ThingName, d.CN, d.Data != nil, outcome)
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
