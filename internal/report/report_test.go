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
	"github.com/thingpress/thingpress/internal/outcome"
)

func TestSummaryAndWriter(t *testing.T) {
	results := []importer.Result{
		{ChipID: "A", ThingName: "a", CertificateID: "1", CertificateARN: "arn:1", Status: importer.Imported},
		{ChipID: "B", ThingName: "b", CertificateID: "2", CertificateARN: "arn:2", Status: importer.Exists},
		{ChipID: "C", ThingName: "c", CertificateID: "3", Status: importer.Skipped, Error: "certificate expired"},
		{ChipID: "D", ThingName: "d", CertificateID: "4", Status: importer.Failed, Error: "CreateThing: x"},
		{ChipID: "E", ThingName: "e", CertificateID: "5", CertificateARN: "arn:5", Status: importer.Imported, Resumed: true},
		{ChipID: "F", ThingName: "f", CertificateID: "6", CertificateARN: "arn:6", Status: importer.Failed, Error: "AttachPolicy: y",
			Left: &importer.Leftover{CertificateID: "6", CertificateARN: "arn:6", CertificateStatus: "ACTIVE", Thing: "f", ThingCreated: "this run",
				Done: []string{"thing", "register", "principal"}, Missing: []string{"policy:p"}}},
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	for _, r := range results {
		s.Import(r)
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
	if s.Total != 6 || s.Imported != 2 || s.Exists != 1 || s.Skipped != 1 || s.Failed != 2 || s.Resumed != 1 || s.LeftHalfMade != 1 {
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
	if len(lines) != 7 {
		t.Fatalf("%d lines, want 6 devices and a summary", len(lines))
	}
	for _, key := range []string{"chip_id", "thing_name", "certificate_id", "certificate_arn", "status", "error"} {
		if _, ok := lines[0][key]; !ok {
			t.Errorf("device line lacks %q: %v", key, lines[0])
		}
	}
	if lines[3]["status"] != "failed" || lines[3]["error"] != "CreateThing: x" {
		t.Errorf("failed line %v", lines[3])
	}
	// left_in_aws is only on the line of a device that left something.
	for i, l := range lines[:6] {
		if _, ok := l["left_in_aws"]; ok != (i == 5) {
			t.Errorf("line %d: left_in_aws present %v: %v", i, ok, l)
		}
	}
	left, _ := lines[5]["left_in_aws"].(map[string]any)
	if left["certificate_arn"] != "arn:6" || left["certificate_status"] != "ACTIVE" || left["thing"] != "f" || left["thing_created"] != "this run" ||
		len(left["done"].([]any)) != 3 || len(left["missing"].([]any)) != 1 {
		t.Errorf("left_in_aws %v", left)
	}
	sum, ok := lines[6]["summary"].(map[string]any)
	if !ok || sum["failed"] != 2.0 || sum["imported"] != 2.0 || sum["left_half_made"] != 1.0 {
		t.Errorf("summary line %v", lines[6])
	}
	var out bytes.Buffer
	s.Report = "r.jsonl"
	s.Print(&out)
	for _, want := range []string{"6: 2 imported, 1 already there, 1 skipped, 2 failed", "AWS calls  7 (1.75 per device)", "Resumed    1",
		"Left half-made 1: failed after some steps, their certificate or Thing stays in AWS; see r.jsonl, lines with left_in_aws"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Print lacks %q:\n%s", want, out.String())
		}
	}
}

func TestNewWritesToWriter(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf)
	if err := w.Write(importer.Result{ChipID: "A", Status: importer.Imported}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"chip_id":"A"`) {
		t.Errorf("a line did not reach the writer at once: %q", buf.String())
	}
	if err := w.Close(&Summary{Counts: outcome.Counts{Total: 1, Imported: 1}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], `{"summary":`) {
		t.Errorf("report %q, want one device line and the summary", buf.String())
	}
}

// TestSummaryJSON pins the summary line's bytes: scripts read it.
func TestSummaryJSON(t *testing.T) {
	s := Summary{
		Counts: outcome.Counts{Total: 4, Imported: 1, Exists: 1, Skipped: 1, Failed: 1, LeftHalfMade: 1},
		Calls:  map[string]int64{"CreateThing": 3}, Throttled: 2, Seconds: 1.5, State: "s.db",
	}
	var buf bytes.Buffer
	w := New(&buf)
	if err := w.Close(&s); err != nil {
		t.Fatal(err)
	}
	want := `{"summary":{"total":4,"imported":1,"exists":1,"skipped":1,"failed":1,"left_half_made":1,"resumed":0,` +
		`"interrupted":false,"calls":{"CreateThing":3},"throttled":2,"retried":0,"seconds":1.5,"state":"s.db"}}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("summary line\n got %s\nwant %s", got, want)
	}
}

// TestLineJSON pins a device line's bytes: scripts read them (jq).
func TestLineJSON(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf)
	for _, r := range []importer.Result{
		{ChipID: "A", ThingName: "a", CertificateID: "1", CertificateARN: "arn:1", Status: importer.Imported, Resumed: true},
		{ChipID: "B", ThingName: "b", CertificateID: "2", Status: importer.Failed, Error: "AttachPolicy: y", Retryable: true,
			Left: &importer.Leftover{CertificateID: "2", CertificateARN: "arn:2", CertificateStatus: "ACTIVE", Thing: "b", ThingCreated: "this run",
				Done: []string{"thing", "register", "principal"}, Missing: []string{"policy:p"}}},
	} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"chip_id":"A","thing_name":"a","certificate_id":"1","certificate_arn":"arn:1","status":"imported","error":""}` + "\n" +
		`{"chip_id":"B","thing_name":"b","certificate_id":"2","certificate_arn":"","status":"failed","error":"AttachPolicy: y",` +
		`"left_in_aws":{"certificate_id":"2","certificate_arn":"arn:2","certificate_status":"ACTIVE","thing":"b","thing_created":"this run",` +
		`"done":["thing","register","principal"],"missing":["policy:p"]}}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("lines\n got %s\nwant %s", got, want)
	}
}
