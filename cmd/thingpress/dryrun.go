package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/outcome"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

// dryRunShown is how many devices a dry run describes one by one.
const dryRunShown = 3

// runDryRun validates the manifest and prints what an import would do,
// reading the state file if there is one but changing nothing.
func runDryRun(ctx context.Context, g *globalOptions, o *importOptions, path string, store *trust.Store, statePath string, out io.Writer) error {
	var st *state.Store
	if _, err := os.Stat(statePath); err == nil {
		s, err := state.OpenReadOnly(statePath)
		if err != nil {
			return err
		}
		defer s.Close()
		st = s
	}
	src, _, err := o.manifest.open(ctx, path, g)
	if err != nil {
		return err
	}
	defer src.Close()
	var counts outcome.Counts
	var done, calls, shown int
	err = validate.Run(ctx, src, o.validateOptions(path, store), func(d *validate.Checked) error {
		counts.Check(d)
		if !d.OK() {
			fmt.Fprintf(out, "skip     %s %s: %s\n", d.Entry, d.ChipID, manifest.Reason(d.Err))
			return nil
		}
		var rec state.Progress
		if st != nil {
			var err error
			if rec, _, err = st.Get(d.CertificateID); err != nil {
				return err
			}
		}
		pending := rec.Missing(importer.StepsFor(o.target(), o.registerOnly, rec))
		if len(pending) == 0 {
			done++
			return nil
		}
		calls += len(pending)
		if shown < dryRunShown {
			shown++
			fmt.Fprintf(out, "would    %s: thing %s, certificate %s..., steps %s\n", d.ChipID, d.ThingName, d.CertificateID[:16], strings.Join(pending, ", "))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if more := counts.Valid - done - shown; more > 0 {
		fmt.Fprintf(out, "would    ... and %d more devices\n", more)
	}
	fmt.Fprintf(out, "\nDry run: nothing was changed in AWS.\n")
	fmt.Fprintf(out, "Preflight  ok: policies %s; thing type %s; thing groups %s\n",
		strings.Join(o.policies, ", "), orDash(o.thingType), orDash(strings.Join(o.thingGroups, ", ")))
	fmt.Fprintf(out, "Devices    %d valid (%d already complete in the state file), %d invalid\n", counts.Valid, done, counts.Invalid)
	rate := o.pace.rate
	fmt.Fprintf(out, "Would make %d calls; at %.0f registrations/s about %s\n", calls, rate, estimate(counts.Valid-done, rate))
	fmt.Fprintf(out, "State      %s\n", statePath)
	if counts.Invalid > 0 {
		return errSomeDevices
	}
	return nil
}

func estimate(devices int, rate float64) string {
	secs := float64(devices) / rate
	switch {
	case secs < 120:
		return fmt.Sprintf("%.0f s", secs)
	case secs < 7200:
		return fmt.Sprintf("%.0f min", secs/60)
	}
	return fmt.Sprintf("%.1f h", secs/3600)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
