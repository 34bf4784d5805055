package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

// dryRunShown is how many devices a dry run describes one by one.
const dryRunShown = 3

// runDryRun validates the manifest and prints what an import would do,
// reading the state file if there is one but changing nothing.
func runDryRun(ctx context.Context, g *globalOptions, o *importOptions, path string, store *trust.Store, statePath string, out io.Writer) error {
	c, err := newDryRun(out, statePath)
	if err != nil {
		return err
	}
	defer c.close()
	src, _, err := o.manifest.open(ctx, path, g)
	if err != nil {
		return err
	}
	defer src.Close()
	err = validate.Run(ctx, src, o.manifest.validateOptions(path, store), func(d *validate.Checked) error {
		if !d.OK() {
			c.skip(d.Entry, d.ChipID, d.Err)
			return nil
		}
		rec, err := c.progress(d.CertificateID)
		if err != nil {
			return err
		}
		c.need(d.ChipID, d.ThingName, d.CertificateID, rec.Missing(importer.StepsFor(o.target(), o.registerOnly, rec)))
		return nil
	})
	if err != nil {
		return err
	}
	c.print(&o.targetFlags)
	rate := o.pace.rate
	fmt.Fprintf(out, "Would make %d calls; at %.0f registrations/s about %s\n", c.calls, rate, estimate(c.valid-c.done, rate))
	return c.end(statePath)
}

// dryRunCounts counts the devices of a dry run of import or bind and
// prints the first dryRunShown that need any step; it reads the state
// file of remove's dry run too.
type dryRunCounts struct {
	out                                io.Writer
	st                                 *state.Store // nil: no state file yet
	valid, invalid, done, calls, shown int
}

// newDryRun starts a dry run that prints on out, with the state file at
// statePath opened read-only if there is one; the caller closes it.
func newDryRun(out io.Writer, statePath string) (*dryRunCounts, error) {
	c := &dryRunCounts{out: out}
	if _, err := os.Stat(statePath); err != nil {
		return c, nil
	}
	var err error
	c.st, err = state.OpenReadOnly(statePath)
	return c, err
}

// close closes the state file, if any.
func (c *dryRunCounts) close() {
	if c.st != nil {
		c.st.Close()
	}
}

// progress is what the state file records of the device id: nothing
// without a state file.
func (c *dryRunCounts) progress(id string) (state.Progress, error) {
	if c.st == nil {
		return state.Progress{}, nil
	}
	rec, _, err := c.st.Get(id)
	return rec, err
}

// skip counts an invalid device (entry names it in the input) and says
// why.
func (c *dryRunCounts) skip(entry, device string, err error) {
	c.invalid++
	fmt.Fprintf(c.out, "skip     %s %s: %s\n", entry, device, manifest.Reason(err))
}

// need counts a valid device that still needs the steps pending.
func (c *dryRunCounts) need(device, thing, certificateID string, pending []string) {
	c.valid++
	if len(pending) == 0 {
		c.done++
		return
	}
	c.calls += len(pending)
	if c.shown < dryRunShown {
		c.shown++
		printWould(c.out, device, thing, certificateID, pending)
	}
}

// print prints the devices not shown and the summary up to the calls,
// for the target t the preflight found.
func (c *dryRunCounts) print(t *targetFlags) {
	printNotShown(c.out, c.valid-c.done-c.shown)
	fmt.Fprintf(c.out, "Preflight  ok: policies %s; thing type %s; thing groups %s\n",
		strings.Join(t.policies, ", "), orDash(t.thingType), orDash(strings.Join(t.thingGroups, ", ")))
	fmt.Fprintf(c.out, "Devices    %d valid (%d already complete in the state file), %d invalid\n", c.valid, c.done, c.invalid)
}

// end prints the state file and returns errSomeDevices if any device is
// invalid.
func (c *dryRunCounts) end(statePath string) error {
	fmt.Fprintf(c.out, "State      %s\n", statePath)
	if c.invalid > 0 {
		return errSomeDevices
	}
	return nil
}

// printNotShown says how many more devices need steps than a dry run
// showed, if any, and that it changed nothing.
func printNotShown(out io.Writer, more int) {
	if more > 0 {
		fmt.Fprintf(out, "would    ... and %d more devices\n", more)
	}
	fmt.Fprintf(out, "\nDry run: nothing was changed in AWS.\n")
}

// printWould prints what a dry run would do to one device.
func printWould(out io.Writer, device, thing, certificateID string, steps []string) {
	fmt.Fprintf(out, "would    %s: thing %s, certificate %s..., steps %s\n", device, thing, certificateID[:16], strings.Join(steps, ", "))
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
