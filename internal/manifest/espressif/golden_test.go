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

// TestNextAttributes reads testdata/mixed.csv through Next: a row's
// record carries its cn as an attribute, and a row without one none.
func TestNextAttributes(t *testing.T) {
	r, err := Open(filepath.Join("testdata", "mixed.csv"), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs := manifesttest.All(t, r.Next)
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6", len(recs))
	}
	if a := recs[0].Attributes; len(a) != 1 || a["cn"] != "6d1d54ba-ed81-4c32-8e08-f9f8c885a6ed" {
		t.Errorf("%s: Attributes %v, want its cn", recs[0].Entry, a)
	}
	if a := recs[3].Attributes; a != nil {
		t.Errorf("%s: Attributes %v, want none (no cn)", recs[3].Entry, a)
	}
}
