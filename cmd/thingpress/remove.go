package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/remove"
	"github.com/thingpress/thingpress/internal/report"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/validate"
)

// errNotConfirmed says remove was not told to go on.
var errNotConfirmed = errors.New("nothing removed")

type removeOptions struct {
	importedOptions
	yes        bool
	dryRun     bool
	statePath  string
	reportPath string
}

// quotaTable is remove's: its per-device calls of 10/s quotas at --rate,
// the others at least as fast as the policies and groups need, then
// every --quota (checked).
func (o *removeOptions) quotaTable() map[string]float64 {
	per := o.aws.perDevice()
	q, _ := o.aws.pace.table(
		[]string{ratelimit.OpDescribeCertificate, ratelimit.OpListPrincipalThings, ratelimit.OpListThingPrincipals, ratelimit.OpUpdateCertificate, ratelimit.OpDeleteCertificate},
		map[string]int{ratelimit.OpDetachPolicy: per.Policies, ratelimit.OpRemoveThingFromThingGroup: per.Groups, ratelimit.OpDetachThingPrincipal: 1, ratelimit.OpDeleteThing: 1})
	return q
}

func newRemoveCmd(g *globalOptions) *cobra.Command {
	o := &removeOptions{}
	cmd := &cobra.Command{
		Use:   "remove [--policy NAME...] [--thing-type T] [--thing-group G...] [--yes] [--dry-run] [flags] MANIFEST",
		Short: "Undo an import: delete the certificates and Things of a manifest's devices from AWS IoT Core",
		Long: `remove undoes an import. For each valid device of the manifest whose
certificate is registered in AWS IoT it detaches each --policy from the
certificate, takes the Thing out of each --thing-group, detaches the
certificate from the Thing, sets the certificate INACTIVE and deletes it, and
deletes the Thing. Give the flags the import was given (--thing-name too, or
the Things are not found): a policy left attached keeps AWS from deleting the
certificate, and the device fails with AWS's reason.

It never touches a Thing or certificate that is not the manifest's: a Thing
the device's certificate is not attached to is left alone, a Thing that has
another principal besides the device's certificate keeps it (and its groups),
and a certificate attached to a Thing other than the device's is not removed
at all (the device is "refused"). A device whose certificate is not in AWS is
"absent" and costs one call.

Calls per device: DescribeCertificate, ListPrincipalThings and
ListThingPrincipals to look, then one DetachPolicy per policy, one
RemoveThingFromThingGroup per group, DetachThingPrincipal, UpdateCertificate,
DeleteCertificate and DeleteThing: 7 plus one per policy and group. At the
default quotas (10 per second for the certificate and list calls) 10,000
devices take about 17 minutes; raise --rate after a quota increase (--quota
OP=N sets one operation).

Without --yes, remove shows what it will do and asks on a terminal; without a
terminal it refuses (exit 2). --dry-run makes only the read calls and prints
what each device would need, changing nothing.

Every step is recorded in the import's state file (the same default path, or
--state) before the next, so after a crash or Ctrl-C the same command finishes
the rest; a removed device's record is emptied, so a later import starts it
afresh. --report writes one JSON line per device (status removed, absent,
refused, failed, or skipped for a device invalid in the manifest; what became
of the Thing; the steps done) and a summary.

Exit status: 0 when every device whose certificate was in AWS is removed; 1
when any was refused or failed, or the run was interrupted (Ctrl-C, or the
endpoint became unreachable: the devices not done are left for the same command
to finish); 2 for argument or preflight errors, an unreadable manifest, a damaged state file, or a removal
not confirmed.`,
		Args: exactlyOneArg(errExactlyOneManifest),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRemove(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	o.bind(f, "detached before the certificate is deleted", "only checked to exist", "each Thing is taken out of",
		"DescribeCertificate, ListPrincipalThings, ListThingPrincipals, UpdateCertificate and DeleteCertificate", "removed")
	f.BoolVar(&o.yes, "yes", false, "remove without asking")
	f.BoolVar(&o.dryRun, "dry-run", false, "look at each device and print what removing it takes, without any change")
	f.StringVar(&o.statePath, "state", "", "state file for resuming (default: the import's, derived from the manifest's SHA-256, slot, region and endpoint)")
	f.StringVar(&o.reportPath, "report", "", "write a JSON Lines report, one object per device and a closing summary, to this file (- for standard output; what a person reads then goes to standard error)")
	return cmd
}

// removeSummary counts the results of a removal.
type removeSummary struct {
	Removed       int  `json:"removed"`
	ThingsDeleted int  `json:"things_deleted"`
	ThingsKept    int  `json:"things_kept"`
	Absent        int  `json:"absent"`
	Refused       int  `json:"refused"`
	Failed        int  `json:"failed"`
	Invalid       int  `json:"invalid"`
	Resumed       int  `json:"resumed"`
	Interrupted   bool `json:"interrupted"`
	// Unreachable is set when the run stopped because the endpoint
	// stopped taking connections: why, naming the address.
	Unreachable string           `json:"unreachable,omitempty"`
	Calls       map[string]int64 `json:"calls"`
	Seconds     float64          `json:"seconds"`
	State       string           `json:"state"`
}

func (s *removeSummary) add(r remove.Result) {
	switch r.Status {
	case remove.Removed:
		s.Removed++
		switch r.Thing {
		case remove.ThingDeleted:
			s.ThingsDeleted++
		case remove.ThingKept:
			s.ThingsKept++
		}
	case remove.Absent:
		s.Absent++
	case remove.Refused:
		s.Refused++
	case remove.Failed:
		s.Failed++
	}
	if r.Resumed {
		s.Resumed++
	}
}

func (s *removeSummary) print(w io.Writer) {
	fmt.Fprintf(w, "Removed    %d devices (things deleted %d, kept %d)\n", s.Removed, s.ThingsDeleted, s.ThingsKept)
	fmt.Fprintf(w, "Absent     %d (certificate not in AWS)\n", s.Absent)
	fmt.Fprintf(w, "Refused    %d (certificate attached to another device's thing)\n", s.Refused)
	fmt.Fprintf(w, "Failed     %d\n", s.Failed)
	if s.Invalid > 0 {
		fmt.Fprintf(w, "Invalid    %d in the manifest, not looked at\n", s.Invalid)
	}
	var total int64
	var per []string
	for _, op := range slices.Sorted(maps.Keys(s.Calls)) {
		total += s.Calls[op]
		per = append(per, fmt.Sprintf("%s %d", op, s.Calls[op]))
	}
	fmt.Fprintf(w, "Calls      %d in %.1f s (%s)\n", total, s.Seconds, strings.Join(per, ", "))
	fmt.Fprintf(w, "State      %s\n", s.State)
}

func runRemove(cmd *cobra.Command, g *globalOptions, o *removeOptions, path string) error {
	ctx := cmd.Context()
	out := personOut(cmd, o.reportPath)
	if err := o.check(); err != nil {
		return err
	}
	store, err := o.manifest.prepare(path)
	if err != nil {
		return err
	}
	// The manifest is read first: the question names how many devices.
	src, _, err := o.manifest.open(ctx, path, g)
	if err != nil {
		return err
	}
	var devices []remove.Device
	var skipped []remove.Result
	err = validate.Run(ctx, src, o.manifest.validateOptions(path, store), func(d *validate.Checked) error {
		if !d.OK() {
			skipped = append(skipped, remove.Result{ChipID: d.ChipID, ThingName: d.ThingName, CertificateID: d.CertificateID,
				Status: remove.Skipped, Done: []string{}, Error: manifest.Reason(d.Err)})
			return nil
		}
		devices = append(devices, remove.Device{ChipID: d.ChipID, ThingName: d.ThingName, CertificateID: d.CertificateID})
		return nil
	})
	src.Close()
	if err != nil {
		return err
	}
	client, region, endpoint, err := o.aws.connect(ctx)
	if err != nil {
		return err
	}
	t := o.aws.target()
	meta, statePath, err := o.aws.stateFile(path, o.manifest.certType, region, endpoint, o.statePath)
	if err != nil {
		return err
	}
	caller, err := awsiot.NewCaller(o.quotaTable())
	if err != nil {
		return usageError{err}
	}
	emitAll := func(emit func(remove.Device) error) error {
		for _, d := range devices {
			if err := emit(d); err != nil {
				return err
			}
		}
		return nil
	}
	if o.dryRun {
		return removeDryRun(cmd, o, devices, len(skipped), client, caller, statePath, emitAll)
	}
	if !o.yes {
		fmt.Fprintf(out, "remove will undo the import of %s in region %s%s:\n", path, region, orEmpty(" at ", endpoint))
		fmt.Fprintf(out, "  for each of its %d valid devices whose certificate is in AWS IoT: detach policies %s,\n", len(devices), orDash(strings.Join(t.Policies, ", ")))
		fmt.Fprintf(out, "  take its Thing out of thing groups %s, detach the certificate, set it INACTIVE and delete it,\n", orDash(strings.Join(t.ThingGroups, ", ")))
		fmt.Fprintf(out, "  and delete the Thing unless another principal is attached to it.\n")
		in := cmd.InOrStdin()
		f, ok := in.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return fmt.Errorf("%w: standard input is not a terminal to ask on; run again with --yes to remove, or --dry-run to see each device", errNotConfirmed)
		}
		fmt.Fprint(out, `Type "yes" to remove them: `)
		answer, _ := bufio.NewReader(in).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return errNotConfirmed
		}
	}

	st, err := state.Open(statePath, meta)
	if err != nil {
		return err
	}
	defer st.Close()
	var enc *json.Encoder
	switch o.reportPath {
	case "":
	case report.Stdout:
		enc = json.NewEncoder(cmd.OutOrStdout())
	default:
		rw, err := os.Create(o.reportPath)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		defer rw.Close()
		enc = json.NewEncoder(rw)
	}
	rm := remove.New(remove.Config{API: client, Target: t, Caller: caller, State: st, Logger: g.logger})
	s := removeSummary{Invalid: len(skipped), State: statePath}
	var writeErr error
	for _, r := range skipped {
		if enc != nil && writeErr == nil {
			writeErr = enc.Encode(r)
		}
	}
	started := time.Now()
	runErr := rm.RemoveAll(ctx, o.aws.workerCount(), emitAll, func(r remove.Result) {
		s.add(r)
		if r.Status == remove.Failed || r.Status == remove.Refused {
			g.logger.Warn("device not removed", "chip", r.ChipID, "thing", r.ThingName, "status", r.Status, "reason", r.Error)
		}
		if enc != nil && writeErr == nil {
			writeErr = enc.Encode(r)
		}
	})
	s.Calls, s.Seconds = caller.Calls(), time.Since(started).Seconds()
	s.Interrupted, s.Unreachable = stopped(runErr, caller.Unreachable())
	if enc != nil && writeErr == nil {
		writeErr = enc.Encode(struct {
			Summary *removeSummary `json:"summary"`
		}{&s})
	}
	s.print(out)
	return runExit(out, s.Interrupted, s.Unreachable, runErr, writeErr, o.reportPath, s.Failed == 0 && s.Refused == 0)
}

// removeDryRun looks at every device and prints what removing it takes.
func removeDryRun(cmd *cobra.Command, o *removeOptions, devices []remove.Device, invalid int, client awsiot.RemoveAPI, caller *awsiot.Caller,
	statePath string, emitAll func(func(remove.Device) error) error) error {
	out := cmd.OutOrStdout()
	c, err := newDryRun(out, statePath)
	if err != nil {
		return err
	}
	defer c.close()
	t := o.aws.target()
	rm := remove.New(remove.Config{API: client, Target: t, Caller: caller})
	var would, absent, refused, begun int
	calls := 0
	err = rm.LookAll(cmd.Context(), o.aws.workerCount(), emitAll, func(d remove.Device, p remove.Plan) {
		steps := remove.Steps(t, p)
		if rec, err := c.progress(d.CertificateID); err == nil && rec.Has(remove.StepLook) {
			begun++
		}
		switch {
		case !p.CertFound:
			absent++
			return
		case len(p.Foreign) > 0:
			refused++
			fmt.Fprintf(out, "refuse   %s: certificate is attached to thing %s, not %s\n", d.ChipID, strings.Join(p.Foreign, ", "), d.ThingName)
			return
		}
		would++
		calls += len(steps)
		if would <= dryRunShown {
			printWould(out, d.ChipID, d.ThingName, d.CertificateID, steps)
		}
	})
	if err != nil {
		return err
	}
	printNotShown(out, would-dryRunShown)
	fmt.Fprintf(out, "Devices    %d valid: %d to remove, %d absent, %d refused; %d invalid\n", len(devices), would, absent, refused, invalid)
	if begun > 0 {
		fmt.Fprintf(out, "Begun      %d devices by an earlier run; running remove finishes them\n", begun)
	}
	fmt.Fprintf(out, "Would make %d more calls after these looks\n", calls)
	fmt.Fprintf(out, "State      %s\n", statePath)
	if refused > 0 {
		return errSomeDevices
	}
	return nil
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
