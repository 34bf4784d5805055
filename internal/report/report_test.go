package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/importer"
)

func TestSummaryAndWriter(t *testing.T) {
	results := []importer.Result{
		{ChipID: "A", ThingName: "a", CertificateID: "1", CertificateARN: "arn:1", Status: importer.Imported},
		{ChipID: "B", ThingName: "b", CertificateID: "2", CertificateARN: "arn:2", Status: importer.Exists},
		{ChipID: "C", ThingName: "c", CertificateID: "3", Status: importer.Skipped, Error: "certificate expired"},
		{ChipID: "D", ThingName: "d", CertificateID: "4", Status: importer.Failed, Error: "CreateThing: x"},
		{ChipID: "E", ThingName: "e", CertificateID: "5", CertificateARN: "arn:5", Status: importer.Imported, Resumed: true},
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	for _, r := range results {
		s.Add(r)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	s.Calls = map[string]int64{"CreateThing": 3, "RegisterCertificateWithoutCA": 4}
	s.Seconds = 2
	if err := w.Close(&s); err != nil {
		t.Fatal(err)
	}
	if s.OK() {
		t.Error("OK with a skipped and a failed device")
	}
	if s.Total != 5 || s.Imported != 2 || s.Exists != 1 || s.Skipped != 1 || s.Failed != 1 || s.Resumed != 1 {
		t.Errorf("summary %+v", s)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 5 devices and a summary", len(lines))
	}
	for _, key := range []string{"chip_id", "thing_name", "certificate_id", "certificate_arn", "status", "error"} {
		if _, ok := lines[0][key]; !ok {
			t.Errorf("device line lacks %q: %v", key, lines[0])
		}
	}
	if lines[3]["status"] != "failed" || lines[3]["error"] != "CreateThing: x" {
		t.Errorf("failed line %v", lines[3])
	}
	sum, ok := lines[5]["summary"].(map[string]any)
	if !ok || sum["failed"] != 1.0 || sum["imported"] != 2.0 {
		t.Errorf("summary line %v", lines[5])
	}
	var out bytes.Buffer
	s.Print(&out)
	for _, want := range []string{"5: 2 imported, 1 already there, 1 skipped, 1 failed", "AWS calls  7 (2.33 per device)", "Resumed    1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Print lacks %q:\n%s", want, out.String())
		}
	}
}
