package espressif

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

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
	if manifesttest.Update() {
		writeMixed(t)
	}
	r, err := Open(filepath.Join("testdata", "mixed.csv"), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := manifesttest.Lines(t, r.NextDevice, func(d Device) string {
		return fmt.Sprintf("%s chip=%s thing=%s cn=%s data=%t: %s", d.Entry, d.ChipID, d.ThingName, d.CN, d.Data != nil, manifesttest.Outcome(d.Problem))
	})
	manifesttest.Golden(t, filepath.Join("testdata", "mixed.golden"), got)
}
