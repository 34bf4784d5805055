package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// corpusDir holds one manifest per bad case and format, made by
// generate.WriteCorpus (go generate ./cmd/thingpress, which runs
// TestInspectCorpus with -write-corpus -update to rewrite its reasons).
var corpusDir = filepath.Join("testdata", "corpus")

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/corpus (generate.WriteCorpus) before TestInspectCorpus checks it")

// TestInspectCorpus runs inspect over each manifest of the corpus: one
// good chip and one bad. It must exit 1 with the good chip ok and the bad
// one invalid with the reason of the golden file, which must say what the
// case is (reasons).
func TestInspectCorpus(t *testing.T) {
	if *writeCorpus {
		testbundle.Require7z(t)
		if _, err := generate.WriteCorpus(corpusDir, true); err != nil {
			t.Fatal(err)
		}
	}
	trustFile := filepath.Join(corpusDir, "ca.pem")
	golden := filepath.Join(corpusDir, "reasons.golden")
	want := map[string]string{}
	if !*update {
		data, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			file, reason, ok := strings.Cut(line, "\t")
			if !ok {
				t.Fatalf("%s: bad line %q", golden, line)
			}
			want[file] = reason
		}
	}
	var got []string
	for _, c := range generate.BadCases {
		for _, f := range []struct{ format, ext string }{{generate.FormatXML, ".xml"}, {generate.FormatInfineon, ".7z"}} {
			file := string(c) + f.ext
			t.Run(file, func(t *testing.T) {
				path := filepath.Join(corpusDir, file)
				out, stderr, code := runCLI(t, "inspect", "--trust", trustFile, "--output", "json", path)
				if code != exitSomeDevices {
					t.Fatalf("exit %d, want %d: %s", code, exitSomeDevices, stderr)
				}
				recs := readJSONL(t, out)
				if len(recs) != 2 {
					t.Fatalf("%d devices, want 2", len(recs))
				}
				var ok, invalid []int
				for i, r := range recs {
					switch r.Status {
					case "ok":
						ok = append(ok, i)
					case "invalid":
						invalid = append(invalid, i)
					}
				}
				if len(ok) != 1 || len(invalid) != 1 {
					t.Fatalf("statuses %v, want one ok and one invalid", recs)
				}
				reason := recs[invalid[0]].Error
				if !strings.Contains(reason, reasonFor(c, f.format)) {
					t.Errorf("reason %q does not say %q", reason, reasonFor(c, f.format))
				}
				if strings.Contains(strings.ToLower(out), "private key-----") || strings.Contains(stderr, "-----") {
					t.Errorf("output carries key or certificate text")
				}
				got = append(got, file+"\t"+reason)
				if !*update && want[file] != reason {
					t.Errorf("reason\n%q\nwant (%s)\n%q", reason, golden, want[file])
				}
				table, _, code := runCLI(t, "inspect", "--trust", trustFile, path)
				refused := "Refused   thingpress test expired CA, thingpress test non-CA issuer (in the trust file, but not CAs that may issue devices)"
				if code != exitSomeDevices || !strings.Contains(table, "Devices   2: 1 ok, 1 invalid") || !strings.Contains(table, refused) {
					t.Errorf("table: exit %d\n%s", code, table)
				}
			})
		}
	}
	if *update {
		slices.Sort(got)
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if len(want) != 2*len(generate.BadCases) {
		t.Errorf("%s has %d reasons, want %d", golden, len(want), 2*len(generate.BadCases))
	}
}

// TestCorpusIsSmall keeps the committed corpus small.
func TestCorpusIsSmall(t *testing.T) {
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 10<<10 {
			t.Errorf("%s: %d bytes, want at most 10 KiB", e.Name(), fi.Size())
		}
		total += fi.Size()
	}
	if total > 200<<10 {
		t.Errorf("corpus of %d bytes", total)
	}
}
