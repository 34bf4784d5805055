package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/progress"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/report"
	"github.com/thingpress/thingpress/internal/state"
)

// personOut is where a command writes what a person reads: standard
// output, or standard error when --report - gives standard output to the
// report.
func personOut(cmd *cobra.Command, reportPath string) io.Writer {
	if reportPath == report.Stdout {
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
}

// newImporter opens the state file statePath of meta and returns the
// importer of cfg, recording in it and paced at quotas, and the state
// store for the caller to close.
func newImporter(statePath string, meta state.Meta, quotas map[string]float64, cfg importer.Config) (*importer.Importer, *state.Store, error) {
	st, err := state.Open(statePath, meta)
	if err != nil {
		return nil, nil, err
	}
	limits, err := ratelimit.NewSet(quotas, ratelimit.WithMargin(ratelimit.DefaultMargin))
	if err != nil {
		st.Close()
		return nil, nil, usageError{err}
	}
	cfg.State, cfg.Limits = st, limits
	return importer.New(cfg), st, nil
}

// importRun is a run of the importer as import and bind make it: the
// report, the progress meter and the summary of every device's result,
// and how the run ends.
type importRun struct {
	summary  report.Summary
	report   *report.Writer // nil: no --report
	path     string         // --report's value, for the message
	warn     func(importer.Result)
	meter    *progress.Meter // nil: none
	started  time.Time
	writeErr error // the first error writing a report line
}

// newImportRun opens the report reportPath (--report) names, on
// reportOut for -, for a run that records its steps in statePath; warn
// logs a device that did not end complete.
func newImportRun(reportPath string, reportOut io.Writer, statePath string, warn func(importer.Result)) (*importRun, error) {
	r := &importRun{path: reportPath, warn: warn}
	switch reportPath {
	case "":
	case report.Stdout:
		r.report = report.New(reportOut)
	default:
		var err error
		if r.report, err = report.Create(reportPath); err != nil {
			return nil, err
		}
	}
	r.summary.State, r.summary.Report = statePath, reportPath
	if reportPath == report.Stdout {
		r.summary.Report = "the report on standard output"
	}
	return r, nil
}

// start starts the clock and meter (nil for none).
func (r *importRun) start(meter *progress.Meter) {
	r.meter = meter
	r.started = time.Now()
	if meter != nil {
		meter.Start()
	}
}

// onResult counts, shows, logs and reports one device's result.
func (r *importRun) onResult(res importer.Result) {
	r.summary.Import(res)
	if r.meter != nil {
		if res.Resumed {
			r.meter.AddResumed(1)
		} else {
			r.meter.Add(1)
		}
	}
	r.warn(res)
	if r.report != nil && r.writeErr == nil {
		r.writeErr = r.report.Write(res)
	}
}

// finish ends the run of im whose pipeline returned runErr: the meter
// stopped, the summary filled in from the importer, written to the report
// and printed on out, and the error that decides the exit status.
// inManifest is the devices of the input when it declared them, or -1; a
// run read to the end knows it anyway.
func (r *importRun) finish(out io.Writer, im *importer.Importer, inManifest int, runErr error) error {
	if r.meter != nil {
		r.meter.Stop()
	}
	s := &r.summary
	s.Seconds = time.Since(r.started).Seconds()
	s.Calls = im.Calls()
	s.Throttled, s.Retried = im.Throttled(), im.Retried()
	s.Interrupted, s.Unreachable = stopped(runErr, im.Unreachable())
	if inManifest < 0 && runErr == nil {
		// Read to the end: every device has its result.
		inManifest = s.Total
	}
	if inManifest >= 0 {
		s.SetInManifest(inManifest)
	}
	writeErr := r.writeErr
	if r.report != nil {
		if err := r.report.Close(s); writeErr == nil {
			writeErr = err
		}
	}
	s.Print(out)
	return runExit(out, s.Interrupted, s.Unreachable, runErr, writeErr, r.path, s.OK())
}

// stopped says whether runErr ends an interrupted run of import, bind or
// remove and, if the endpoint became unreachable (the Caller's
// Unreachable), why.
func stopped(runErr, unreachable error) (interrupted bool, why string) {
	if !errors.Is(runErr, awsiot.ErrInterrupted) {
		return false, ""
	}
	if unreachable != nil {
		why = unreachable.Error()
	}
	return true, why
}

// runExit is the error that ends a run of import, bind or remove, its
// summary printed on out: an interrupted run says so (and why, unreachable,
// when the endpoint became unreachable: see stopped) and how to finish
// it, then the run's own error, the first error writing the report
// reportPath, and errSomeDevices unless allOK.
func runExit(out io.Writer, interrupted bool, unreachable string, runErr, writeErr error, reportPath string, allOK bool) error {
	switch {
	case interrupted && unreachable != "":
		fmt.Fprintf(out, "\nStopped early: %s.\nThe devices not done are left as they were (none failed for it), and every completed step is recorded.\nRun the same command again once the endpoint answers, to finish the rest.\n", unreachable)
		return errSomeDevices
	case interrupted:
		fmt.Fprintf(out, "\nInterrupted: every completed step is recorded. Run the same command again to finish the rest.\n")
		return errSomeDevices
	case runErr != nil:
		return runErr
	case writeErr != nil:
		return fmt.Errorf("report %s: %w", reportPath, writeErr)
	case !allOK:
		return errSomeDevices
	}
	return nil
}
