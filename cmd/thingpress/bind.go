package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/bind"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/ratelimit"
)

// bindSlot stands for the slot in a bind's state meta: a device-infos
// file has none, and bind's state must not be an import's.
const bindSlot = "bind"

type bindOptions struct {
	targetOptions
	exclusive  bool
	statePath  string
	reportPath string
	progress   string
	dryRun     bool
}

var errExactlyOneDevicesFile = errors.New("expected exactly one DEVICES.json argument")

func newBindCmd(g *globalOptions) *cobra.Command {
	o := &bindOptions{}
	cmd := &cobra.Command{
		Use:   "bind --policy NAME [flags] DEVICES.json",
		Short: "Make devices complete around certificates registered before (import --register-only)",
		Long: `bind is the second phase of two-phase provisioning. "thingpress import
--register-only [--inactive]" registers a reel's certificates and nothing else;
later, when the manufacturing line knows which chip went into which device, bind
reads its device-infos file,

  {"batchId": "...", "devices": [{"certFingerprint": "<hex SHA-256 of the DER>",
    "deviceId": "...", "deviceType": "<thing type>", "attributes": {...}}]}

and makes each device complete: it finds the certificate by its fingerprint (AWS
IoT's certificate ID is the SHA-256 of the DER; DescribeCertificate), creates the
Thing named deviceId with the thing type (deviceType, else --thing-type) and the
attributes, attaches the certificate to it (EXCLUSIVE_THING with --exclusive),
attaches each --policy to the certificate, adds the Thing to each --thing-group,
and activates the certificate last (UpdateCertificate) if it is not ACTIVE, so
that a device left half-made never has an ACTIVE certificate it did not have
before. That is 4 calls plus one per policy and group for an INACTIVE
certificate, one fewer for an ACTIVE one.

Every entry is checked before any call: its fields are the four above, spelled
exactly so, each at most once; the fingerprint is 64 hex digits, deviceId and
deviceType are valid AWS IoT names, the attributes keep AWS's limits (at most
50 with a thing type, 3 without; names [a-zA-Z0-9_.,@/:#-]{1,128}, values
[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}), and no deviceId or fingerprint comes twice.
An entry that breaks a rule is skipped with its reason; an unknown fingerprint,
a REVOKED certificate or a missing thing type fails the device with its reason.
The file is read as a stream, at most 2 GiB, 64 KiB per entry and 5,000,000
devices.

Calls are paced per operation at AWS's default quotas (DescribeCertificate and
UpdateCertificate 10/s are the ceiling); raise --rate after a quota increase.
Every step is recorded in a state file (by default under
$XDG_STATE_HOME/thingpress, named after the file's SHA-256, the region and the
endpoint), so after a crash or Ctrl-C the same command finishes the rest, and
running it again over bound devices makes no call. --dry-run checks the file,
runs the preflight and prints what would be done, changing nothing.

The caller needs iot:DescribeCertificate, iot:UpdateCertificate, iot:CreateThing,
iot:AttachThingPrincipal, iot:AttachPolicy, iot:AddThingToThingGroup, and for the
preflight iot:GetPolicy, iot:DescribeThingType, iot:DescribeThingGroup.

Exit status: 0 when every device is bound; 1 when any device was skipped or
failed, or the run was interrupted (Ctrl-C, or the endpoint became unreachable:
the devices not done are left for the same command to finish); 2 for argument
or preflight errors, an unreadable device-infos file or a damaged state file.`,
		Args: exactlyOneArg(errExactlyOneDevicesFile),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBind(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	o.bindTarget(f, policyHelp, "thing type of the Things whose entry names no deviceType", groupHelp)
	f.BoolVar(&o.exclusive, "exclusive", false, exclusiveHelp)
	o.conn.bind(f)
	f.StringVar(&o.statePath, "state", "", "state file for resuming (default: derived from the file's SHA-256, region and endpoint)")
	f.StringVar(&o.reportPath, "report", "", "write a JSON Lines report, one object per device and a closing summary, to this file (- for standard output)")
	o.pace.bind(f, "DescribeCertificate and UpdateCertificate", "bound")
	bindProgress(f, &o.progress)
	f.BoolVar(&o.dryRun, "dry-run", false, "check the file, run the preflight and print what would be done, without any change in AWS")
	return cmd
}

func (o *bindOptions) check() error {
	if len(o.policies) == 0 {
		return usageError{errors.New("--policy is required")}
	}
	if err := o.targetFlags.check(); err != nil {
		return err
	}
	if err := checkProgress(&o.progress); err != nil {
		return err
	}
	return o.pace.check()
}

// quotaTable is import's table for --rate, with DescribeCertificate and
// UpdateCertificate at --rate too, then every --quota.
func (o *bindOptions) quotaTable() (map[string]float64, error) {
	q := ratelimit.ForRegistrationRate(o.pace.rate, o.perDevice())
	q[ratelimit.OpDescribeCertificate] = o.pace.rate
	q[ratelimit.OpUpdateCertificate] = o.pace.rate
	return q, applyQuotas(q, o.pace.quotas)
}

func runBind(cmd *cobra.Command, g *globalOptions, o *bindOptions, path string) error {
	ctx := cmd.Context()
	stdout, stderr := personOut(cmd, o.reportPath), cmd.ErrOrStderr()
	if err := o.check(); err != nil {
		return err
	}
	quotas, _ := o.quotaTable()
	file, err := os.Open(path)
	if err != nil {
		return &manifest.Error{File: path, Err: err}
	}
	defer file.Close()
	rd, err := bind.NewReader(file, path, bind.DefaultLimits)
	if err != nil {
		return err
	}
	workers := o.workerCount()
	client, region, endpoint, err := o.connect(ctx)
	if err != nil {
		return err
	}
	meta, statePath, err := o.stateFile(path, bindSlot, region, endpoint, o.statePath)
	if err != nil {
		return err
	}
	if o.dryRun {
		return runBindDryRun(o, path, rd, statePath, stdout)
	}
	target := o.target()
	im, st, err := newImporter(statePath, meta, quotas, importer.Config{API: client, Target: target, Logger: g.logger, Exclusive: o.exclusive})
	if err != nil {
		return err
	}
	defer st.Close()
	b := bind.New(bind.Config{Importer: im, API: client, State: st, Target: target, Logger: g.logger})

	run, err := newImportRun(o.reportPath, cmd.OutOrStdout(), statePath, func(r importer.Result) {
		switch {
		case r.Left != nil:
			g.logger.Warn("device failed half-made", "device", r.ThingName, "reason", r.Error,
				"certificate_arn", r.Left.CertificateARN, "done", r.Left.Done, "missing", r.Left.Missing)
		case r.Status == importer.Failed || r.Status == importer.Skipped:
			g.logger.Warn("device not bound", "device", r.ThingName, "status", r.Status, "reason", r.Error)
		}
	})
	if err != nil {
		return err
	}
	run.start(newMeter(o.progress, stderr, false))
	runErr := b.Run(ctx, rd, bind.RunOptions{File: path, Workers: workers, OnResult: run.onResult})
	return run.finish(stdout, im, -1, runErr)
}

// runBindDryRun checks every entry and prints what bind would do, reading
// the state file if there is one but changing nothing.
func runBindDryRun(o *bindOptions, path string, rd *bind.Reader, statePath string, out io.Writer) error {
	c, err := newDryRun(out, statePath)
	if err != nil {
		return err
	}
	defer c.close()
	steps := bind.Steps(o.target())
	b := bind.New(bind.Config{Target: o.target()})
	err = b.Walk(rd, path, func(d bind.Device) error {
		if d.Err != nil {
			c.skip(d.Name(), d.DeviceID, d.Err)
			return nil
		}
		rec, err := c.progress(d.Fingerprint)
		if err != nil {
			return err
		}
		c.need(d.Name(), d.DeviceID, d.Fingerprint, rec.Missing(steps))
		return nil
	})
	if err != nil {
		return err
	}
	c.print(&o.targetFlags)
	fmt.Fprintf(out, "Would make at most %d calls (no activation for a certificate already ACTIVE); at %.0f devices/s about %s\n", c.calls, o.pace.rate, estimate(c.valid-c.done, o.pace.rate))
	return c.end(statePath)
}
