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
	// InManifest is the number of devices in the manifest when known:
	// declared by it (an Infineon archive header) or read to the end.
	InManifest *int `json:"in_manifest,omitempty"`
	// Remaining is InManifest less Total: the devices this run did not
	// reach (an interrupted run); absent when InManifest is.
	Remaining   *int `json:"remaining,omitempty"`
	Interrupted bool `json:"interrupted"`
	// Unreachable is set on a run that stopped because the endpoint
	// stopped taking connections: why, naming the address.
	Unreachable string           `json:"unreachable,omitempty"`
	Calls       map[string]int64 `json:"calls"`
	Throttled   int64            `json:"throttled"`
	Retried     int64            `json:"retried"`
	Seconds     float64          `json:"seconds"`
	State       string           `json:"state,omitempty"`
	// Report is the report file's path, for Print.
	Report string `json:"-"`
	// resumedExists counts the resumed devices that were already there.
	resumedExists int
}

// Import counts one result.
func (s *Summary) Import(r importer.Result) {
	s.Counts.Import(r)
	if r.Resumed && r.Status == importer.Exists {
		s.resumedExists++
	}
}

// SetInManifest records the number of devices in the manifest, and so
// how many remain; call it after the last Import.
func (s *Summary) SetInManifest(n int) {
	rest := max(n-s.Total, 0)
	s.InManifest, s.Remaining = &n, &rest
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

// Finished is the devices that reached their end in AWS: imported (or
// registered, or bound) or already there, by this run or an earlier one.
func (s *Summary) Finished() int { return s.Imported + s.Registered + s.Bound + s.Exists }

// FinishedNow is the devices this run finished, or found already in AWS,
// with calls.
func (s *Summary) FinishedNow() int { return s.Finished() - s.Resumed }

// Print writes the summary for a person: what the manifest holds and
// where each device stands, then what this run did and at what rate
// (over this run's work only).
func (s *Summary) Print(w io.Writer) {
	made := fmt.Sprintf("%d imported", s.Imported-(s.Resumed-s.resumedExists))
	switch {
	case s.Registered > 0:
		made = fmt.Sprintf("%d registered", s.Registered)
	case s.Bound > 0:
		made = fmt.Sprintf("%d bound", s.Bound)
	}
	switch {
	case s.InManifest != nil:
		fmt.Fprintf(w, "Devices    %d in the manifest: %d done, %d skipped (invalid), %d failed, %d remaining\n",
			*s.InManifest, s.Finished(), s.Skipped, s.Failed, *s.Remaining)
	default:
		fmt.Fprintf(w, "Devices    %d read (the manifest's total is not known): %d done, %d skipped (invalid), %d failed, the rest remaining\n",
			s.Total, s.Finished(), s.Skipped, s.Failed)
	}
	fmt.Fprintf(w, "Done       %d: %s and %d already in AWS by this run, %d done before this run (state file)\n",
		s.Finished(), made, s.Exists-s.resumedExists, s.Resumed)
	if s.LeftHalfMade > 0 {
		where := "run again with --report FILE to list them"
		if s.Report != "" {
			where = fmt.Sprintf("see %s, lines with left_in_aws", s.Report)
		}
		fmt.Fprintf(w, "Left half-made %d: failed after some steps, their certificate or Thing stays in AWS; %s\n", s.LeftHalfMade, where)
	}
	took := (time.Duration(s.Seconds * float64(time.Second))).Round(time.Millisecond)
	// Calls are spent on every device worked on in this run, failed ones
	// too; skipped and resumed ones cost none.
	worked := s.FinishedNow() + s.Failed
	if worked == 0 {
		fmt.Fprintf(w, "This run   %s, no device needed a call\n", took)
	} else {
		fmt.Fprintf(w, "This run   %s, %d devices worked on, %.1f devices/s\n", took, worked, float64(s.FinishedNow())/max(s.Seconds, 1e-9))
	}
	var calls []string
	for _, op := range slices.Sorted(maps.Keys(s.Calls)) {
		calls = append(calls, fmt.Sprintf("%s %d", op, s.Calls[op]))
	}
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
