package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/outcome"
)

// Summary is the closing line of a run's report: its devices' counts
// and the run's calls and time.
type Summary struct {
	outcome.Counts
	Interrupted bool             `json:"interrupted"`
	Calls       map[string]int64 `json:"calls"`
	Throttled   int64            `json:"throttled"`
	Retried     int64            `json:"retried"`
	Seconds     float64          `json:"seconds"`
	State       string           `json:"state,omitempty"`
	// Report is the report file's path, for Print.
	Report string `json:"-"`
}

// OK reports whether every device is imported or already there.
func (s *Summary) OK() bool { return s.Done() && !s.Interrupted }

// TotalCalls is the number of AWS calls of the run.
func (s *Summary) TotalCalls() int64 {
	var n int64
	for _, c := range s.Calls {
		n += c
	}
	return n
}

// Print writes the summary for a person.
func (s *Summary) Print(w io.Writer) {
	made := fmt.Sprintf("%d imported", s.Imported)
	switch {
	case s.Registered > 0:
		made = fmt.Sprintf("%d registered", s.Registered)
	case s.Bound > 0:
		made = fmt.Sprintf("%d bound", s.Bound)
	}
	fmt.Fprintf(w, "Devices    %d: %s, %d already there, %d skipped, %d failed\n",
		s.Total, made, s.Exists, s.Skipped, s.Failed)
	if s.LeftHalfMade > 0 {
		where := "run again with --report FILE to list them"
		if s.Report != "" {
			where = fmt.Sprintf("see %s, lines with left_in_aws", s.Report)
		}
		fmt.Fprintf(w, "Left half-made %d: failed after some steps, their certificate or Thing stays in AWS; %s\n", s.LeftHalfMade, where)
	}
	if s.Resumed > 0 {
		fmt.Fprintf(w, "Resumed    %d devices were complete from an earlier run (no calls)\n", s.Resumed)
	}
	done := s.Imported + s.Registered + s.Bound + s.Exists - s.Resumed
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(done) / s.Seconds
	}
	fmt.Fprintf(w, "Time       %s, %.1f devices/s\n", (time.Duration(s.Seconds * float64(time.Second))).Round(time.Millisecond), rate)
	var calls []string
	for _, op := range slices.Sorted(maps.Keys(s.Calls)) {
		calls = append(calls, fmt.Sprintf("%s %d", op, s.Calls[op]))
	}
	// Calls are spent on every device worked on in this run, failed ones
	// too; skipped and resumed ones cost none.
	worked := done + s.Failed
	perDevice := ""
	if worked > 0 {
		perDevice = fmt.Sprintf(" (%.2f per device)", float64(s.TotalCalls())/float64(worked))
	}
	fmt.Fprintf(w, "AWS calls  %d%s: %s\n", s.TotalCalls(), perDevice, orNone(strings.Join(calls, ", ")))
	if s.Throttled > 0 || s.Retried > 0 {
		fmt.Fprintf(w, "Retries    %d throttled, %d transient failures retried\n", s.Throttled, s.Retried)
	}
	if s.State != "" {
		fmt.Fprintf(w, "State      %s\n", s.State)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Writer writes a JSON Lines report file.
type Writer struct {
	f   *os.File
	bw  *bufio.Writer
	enc *json.Encoder
}

// Stdout is the report path that means standard output.
const Stdout = "-"

// Create creates the report file at path.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	w := New(f)
	w.f = f
	return w, nil
}

// New returns a Writer that writes the report to w, which Close leaves
// open (standard output, for --report -).
func New(w io.Writer) *Writer {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{bw: bw, enc: enc}
}

// Write adds one device's line. Lines reach the file at once, so a report of an
// interrupted run still lists what was done.
func (w *Writer) Write(r importer.Result) error {
	if err := w.enc.Encode(r); err != nil {
		return err
	}
	return w.bw.Flush()
}

// Close writes the summary as the last line, {"summary": {...}}, and
// closes the file.
func (w *Writer) Close(s *Summary) error {
	err := w.enc.Encode(struct {
		Summary *Summary `json:"summary"`
	}{s})
	if ferr := w.bw.Flush(); err == nil {
		err = ferr
	}
	if w.f == nil {
		return err
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
