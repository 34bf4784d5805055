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
	for _, want := range []string{"Devices    6 read (the manifest's total is not known): 3 done, 1 skipped (invalid), 2 failed, the rest remaining",
		"Done       3: 1 imported and 1 already in AWS by this run, 1 done before this run (state file)",
		"This run   2s, 4 devices worked on, 1.0 devices/s", "AWS calls  7 (1.75 per device)",
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

// TestSummaryAddsUp prints the summaries of an interrupted run, its
// resumed run and a run with nothing left: the counts add up to the
// manifest's devices, and the rate counts only this run's work.
func TestSummaryAddsUp(t *testing.T) {
	results := func(n, resumed int) []importer.Result {
		var rs []importer.Result
		for i := range n {
			rs = append(rs, importer.Result{Status: importer.Imported, Resumed: i < resumed})
		}
		return rs
	}
	tests := []struct {
		name       string
		results    []importer.Result
		inManifest int // -1: unknown
		seconds    float64
		want       []string
	}{
		{name: "interrupted", results: results(18, 0), inManifest: 200, seconds: 2,
			want: []string{"Devices    200 in the manifest: 18 done, 0 skipped (invalid), 0 failed, 182 remaining",
				"Done       18: 18 imported and 0 already in AWS by this run, 0 done before this run", "9.0 devices/s"}},
		{name: "resumed", results: results(200, 18), inManifest: 200, seconds: 2,
			want: []string{"200 in the manifest: 200 done, 0 skipped (invalid), 0 failed, 0 remaining",
				"182 imported and 0 already in AWS by this run, 18 done before this run", "182 devices worked on, 91.0 devices/s"}},
		{name: "nothing left", results: results(200, 200), inManifest: 200, seconds: 0.5,
			want: []string{"200 done", "0 imported and 0 already in AWS by this run, 200 done before this run", "This run   500ms, no device needed a call"}},
		{name: "interrupted, total unknown", results: results(3, 0), inManifest: -1, seconds: 1,
			want: []string{"Devices    3 read (the manifest's total is not known): 3 done"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Summary
			for _, r := range tc.results {
				s.Import(r)
			}
			if tc.inManifest >= 0 {
				s.SetInManifest(tc.inManifest)
			}
			s.Seconds = tc.seconds
			var out bytes.Buffer
			s.Print(&out)
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("Print lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), "0.0 devices/s") {
				t.Errorf("a rate of nothing:\n%s", out.String())
			}
		})
	}
}
