package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/report"
)

// runEnd is how a run of import or bind ends: its summary filled in from
// the importer, written to the report and printed, and the error that
// decides the exit status.
type runEnd struct {
	summary  *report.Summary
	im       *importer.Importer
	started  time.Time
	report   *report.Writer // nil: no --report
	path     string         // --report's value, for the message
	writeErr error          // the first error writing a report line
	// inManifest is the devices of the input when it declared them, or
	// -1; a run read to the end knows it anyway.
	inManifest int
}

// finish closes the run whose pipeline returned runErr.
func (e runEnd) finish(out io.Writer, runErr error) error {
	s := e.summary
	s.Seconds = time.Since(e.started).Seconds()
	s.Calls = e.im.Calls()
	s.Throttled, s.Retried = e.im.Throttled(), e.im.Retried()
	s.Interrupted = errors.Is(runErr, importer.ErrInterrupted)
	if e.inManifest < 0 && runErr == nil {
		// Read to the end: every device has its result.
		e.inManifest = s.Total
	}
	if e.inManifest >= 0 {
		s.SetInManifest(e.inManifest)
	}
	writeErr := e.writeErr
	if e.report != nil {
		if err := e.report.Close(s); writeErr == nil {
			writeErr = err
		}
	}
	s.Print(out)
	switch {
	case s.Interrupted:
		fmt.Fprintf(out, "\nInterrupted: every completed step is recorded. Run the same command again to finish the rest.\n")
		return errSomeDevices
	case runErr != nil:
		return runErr
	case writeErr != nil:
		return fmt.Errorf("report %s: %w", e.path, writeErr)
	case !s.OK():
		return errSomeDevices
	}
	return nil
}
