package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/pipeline"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

type importOptions struct {
	manifest manifestOptions
	targetOptions
	statePath  string
	reportPath string
	dryRun     bool
	progress   string

	registerOnly bool
	inactive     bool
	exclusive    bool
}

func newImportCmd(g *globalOptions) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import --policy NAME [flags] MANIFEST",
		Short: "Import every valid device of a manifest into AWS IoT Core",
		Long: `import makes every valid device of a manifest a complete Thing in AWS IoT Core:
a Thing named after the certificate's subject CN, or the name the vendor's
manifest gives (Microchip uniqueId, Espressif MAC), with the thing type and the
chip, reel and batch IDs and the vendor's attributes as attributes (at most 3
without --thing-type, as AWS allows: chip, reel and batch ID first, then the
vendor's by name), its certificate registered (ACTIVE)
without a CA, the certificate attached to the Thing, each --policy attached to
the certificate, and the Thing added to each --thing-group. That is 3 calls plus
one per policy and group, and no describe calls (but for one DescribeCertificate
when a killed run may have registered a certificate without recording it). The
Thing comes first, so a name taken by a Thing with other settings fails the
device before its certificate is registered.

A device that fails after some of its steps (say a policy or group deleted
during the run) is left half-made: its certificate stays registered and ACTIVE,
or its Thing stays without a certificate. The summary counts such devices, and
with --report each one's line carries "left_in_aws": the certificate's ARN and
status, the Thing and whether this run created it, the steps done and missing.
To list them:

  jq -c 'select(.left_in_aws) | {chip_id, thing_name, error, left_in_aws}' REPORT

Running the same command again, once the cause is fixed, finishes them.

--thing-name TEMPLATE names each Thing from fields of the device: {cn} (the
subject CN), {chip_id}, {reel_id}, {batch_id}, {slot} and {vendor}, with
literal text between them, e.g. --thing-name '{vendor}-{chip_id}'. Before
anything is imported the manifest is read once more to check every name the
template gives against AWS's thing-name rules and for duplicates; if any
breaks them, nothing is imported (exit status 2) and the first devices are
named. --exclusive attaches each certificate with EXCLUSIVE_THING: AWS then
refuses to attach it to any other Thing.

Two-phase provisioning: --register-only registers the certificates (ACTIVE,
or INACTIVE with --inactive) and makes nothing else: one call per device, no
--policy needed. "thingpress bind" later makes the devices complete from a
device-infos file that names each one by its certificate's fingerprint; or
a plain import of the same manifest (same state file) goes on from the
registrations, and for INACTIVE ones ends with UpdateCertificate to ACTIVE.

Calls are paced per operation at AWS's default quotas (RegisterCertificateWithoutCA
10/s is the ceiling: 36,000 devices an hour); raise --rate after a quota increase.
Throttling, 5xx answers and broken connections are retried with jittered backoff.
An endpoint that stops taking connections (refused, no such host) for a few
seconds (5 attempts in a row over at least 2 s, or one call's 10 attempts)
stops the run as Ctrl-C does: the devices not done are left remaining, not
failed, the summary names the endpoint and the error, and the same command
finishes them once it answers.

Every completed step is recorded in a state file before the next one, so after a
crash or Ctrl-C the same command finishes the rest without repeating a completed
step. By default the state file lives under $XDG_STATE_HOME/thingpress (or
~/.local/state/thingpress), named after the manifest's SHA-256, the slot, the
region and the endpoint. Running the command again over imported devices creates
nothing twice.

The AWS account and region come from the standard configuration chain
(AWS_PROFILE, AWS_REGION, ~/.aws, ...). The caller needs iot:RegisterCertificateWithoutCA,
iot:CreateThing, iot:AttachThingPrincipal, iot:AttachPolicy, iot:AddThingToThingGroup,
iot:DescribeCertificate (only after a killed run), iot:UpdateCertificate (only
after --register-only --inactive), and for the preflight
iot:GetPolicy, iot:DescribeThingType, iot:DescribeThingGroup.

Exit status: 0 when every device is imported or already there; 1 when any device
was skipped (invalid), failed (half-made ones included), or the run was
interrupted (Ctrl-C, SIGTERM, or the endpoint became unreachable); 2 for argument or preflight errors, an unreadable
manifest, a --thing-name template that gives invalid or duplicate names, or a
damaged state file (nothing imported).`,
		Args: exactlyOneArg(errExactlyOneManifest),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	o.manifest.bind(f)
	o.bindTarget(f, policyHelp, "thing type of each Thing", groupHelp)
	o.conn.bind(f)
	f.StringVar(&o.statePath, "state", "", "state file for resuming (default: derived from the manifest's SHA-256, slot, region and endpoint)")
	f.StringVar(&o.reportPath, "report", "", "write a JSON Lines report, one object per device and a closing summary, to this file (- for standard output; the summary for a person then goes to standard error)")
	o.pace.bind(f, "RegisterCertificateWithoutCA", "imported")
	f.BoolVar(&o.dryRun, "dry-run", false, "validate, run the preflight and print what would be done, without any change in AWS")
	f.BoolVar(&o.registerOnly, "register-only", false, "register the certificates and make nothing else (no Thing, policy or group); bind completes the devices later")
	f.BoolVar(&o.inactive, "inactive", false, "with --register-only: register the certificates INACTIVE (bind, or a later import, activates them)")
	f.BoolVar(&o.exclusive, "exclusive", false, exclusiveHelp)
	o.manifest.bindThingName(f, "name each Thing by this template of {cn}, {chip_id}, {reel_id}, {batch_id}, {slot}, {vendor} and literal text (default: the manifest's name, else {cn}); every name is checked before anything is imported")
	bindProgress(f, &o.progress)
	return cmd
}

func (o *importOptions) check() error {
	if err := o.manifest.check(); err != nil {
		return err
	}
	switch {
	case o.inactive && !o.registerOnly:
		return usageError{errors.New("--inactive applies to --register-only (bind activates the certificates)")}
	case o.registerOnly && (len(o.policies) > 0 || o.thingType != "" || len(o.thingGroups) > 0 || o.exclusive || o.manifest.thingName != ""):
		return usageError{errors.New("--register-only registers the certificates only: --policy, --thing-type, --thing-group, --exclusive and --thing-name belong to bind")}
	case len(o.policies) == 0 && !o.registerOnly:
		return usageError{errors.New("--policy is required")}
	}
	if err := o.targetFlags.check(); err != nil {
		return err
	}
	if err := checkProgress(&o.progress); err != nil {
		return err
	}
	if o.statePath == "-" {
		// Unlike --report, it is read back and updated in place.
		return usageError{errors.New("--state -: the state file is a database that is read back, not an output; give a file name")}
	}
	return o.pace.check()
}

// quotaTable is the rate per operation: --rate, then every --quota.
func (o *importOptions) quotaTable() (map[string]float64, error) {
	q := ratelimit.ForRegistrationRate(o.pace.rate, o.perDevice())
	return q, applyQuotas(q, o.pace.quotas)
}

// applyQuotas sets the rate of each --quota OPERATION=RATE in q.
func applyQuotas(q map[string]float64, quotas []string) error {
	for _, kv := range quotas {
		op, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || !(n > 0) || math.IsInf(n, 0) {
			return usageError{fmt.Errorf("--quota %q: want OPERATION=RATE with a positive rate", kv)}
		}
		name, known := ratelimit.Operation(op)
		if !known {
			return usageError{fmt.Errorf("--quota %q: unknown operation %q (want one of %s)", kv, op, strings.Join(ratelimit.Operations(), ", "))}
		}
		q[name] = n
	}
	return nil
}

// checkNames reads the manifest once to check the names --thing-name
// gives, before anything is imported (see validate.CheckNames).
func (o *importOptions) checkNames(ctx context.Context, g *globalOptions, path string, store *trust.Store) error {
	if o.manifest.nameTemplate == nil {
		return nil
	}
	src, _, err := o.manifest.open(ctx, path, g)
	if err != nil {
		return err
	}
	defer src.Close()
	return validate.CheckNames(ctx, src, o.manifest.validateOptions(path, store))
}

func runImport(cmd *cobra.Command, g *globalOptions, o *importOptions, path string) error {
	ctx := cmd.Context()
	stdout, stderr := personOut(cmd, o.reportPath), cmd.ErrOrStderr()
	if err := o.check(); err != nil {
		return err
	}
	quotas, _ := o.quotaTable()
	store, err := o.manifest.prepare(path)
	if err != nil {
		return err
	}
	if o.manifest.noVerifyChain {
		fmt.Fprintln(stderr, "warning: --no-verify-chain: certificates are imported without checking who issued them")
	}
	if err := o.checkNames(ctx, g, path, store); err != nil {
		return err
	}
	workers := o.workerCount()
	client, region, endpoint, err := o.connect(ctx)
	if err != nil {
		return err
	}

	meta, statePath, err := o.stateFile(path, o.manifest.certType, region, endpoint, o.statePath)
	if err != nil {
		return err
	}
	if o.dryRun {
		return runDryRun(ctx, g, o, path, store, statePath, stdout)
	}
	im, st, err := newImporter(statePath, meta, quotas, importer.Config{
		API: client, Target: o.target(), Logger: g.logger,
		RegisterOnly: o.registerOnly, Inactive: o.inactive, Exclusive: o.exclusive,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	run, err := newImportRun(o.reportPath, cmd.OutOrStdout(), statePath, func(r importer.Result) {
		switch {
		case r.Left != nil:
			g.logger.Warn("device failed half-made", "chip", r.ChipID, "thing", r.ThingName, "reason", r.Error,
				"certificate_arn", r.Left.CertificateARN, "certificate_status", r.Left.CertificateStatus,
				"thing_created", r.Left.ThingCreated, "done", r.Left.Done, "missing", r.Left.Missing)
		case r.Status == importer.Failed || r.Status == importer.Skipped:
			g.logger.Warn("device not imported", "chip", r.ChipID, "thing", r.ThingName, "status", r.Status, "reason", r.Error)
		}
	})
	if err != nil {
		return err
	}
	meter := newMeter(o.progress, stderr, false)
	src, _, err := o.manifest.open(ctx, path, g)
	if err != nil {
		return err
	}
	defer src.Close()
	inManifest := -1
	if c, ok := src.(manifest.Counted); ok {
		inManifest = c.Count()
		if meter != nil {
			meter.SetTotal(int64(inManifest))
		}
	}
	run.start(meter)
	runErr := pipeline.Run(ctx, im, src, pipeline.Options{
		Validate: o.manifest.validateOptions(path, store),
		Workers:  workers,
		OnResult: run.onResult,
	})
	return run.finish(stdout, im, inManifest, runErr)
}
