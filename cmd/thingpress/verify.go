package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/validate"
	"github.com/thingpress/thingpress/internal/verify"
)

type verifyOptions struct {
	importedOptions
	output string
}

func newVerifyCmd(g *globalOptions) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [--policy NAME...] [--thing-type T] [--thing-group G...] [flags] MANIFEST",
		Short: "Check in AWS IoT Core, changing nothing, that every valid device of a manifest is complete",
		Long: `verify checks, with read-only calls, that each valid device of a manifest is
complete in AWS IoT Core: its certificate registered and ACTIVE, its Thing
there with the --thing-type, the certificate attached to that Thing and to no
other, each --policy attached to the certificate, and the Thing in each
--thing-group. Give the flags the import was given, --thing-name too.

Calls: one ListThingsInThingGroup per group, one ListTargetsForPolicy per
policy and one ListThings for the thing type, per 250 entries they list; then
per device DescribeCertificate and ListPrincipalThings (two calls for a
complete device), and DescribeThing only for a device whose certificate is not
attached to its Thing or whose Thing is not of the type. Both per-device calls
have a default quota of 10 per second, so 10,000 devices take about 17 minutes;
raise --rate after a quota increase (--quota OP=N sets one operation).
The caller needs iot:DescribeCertificate, iot:ListPrincipalThings,
iot:DescribeThing, iot:ListThings, iot:ListThingsInThingGroup,
iot:ListTargetsForPolicy, and for the preflight iot:GetPolicy,
iot:DescribeThingType, iot:DescribeThingGroup.

--output table (the default) prints the counts and the devices that are not
complete; --output json prints one line per valid device, in the manifest's
order:

  {"chip_id":...,"thing_name":...,"certificate_id":...,"status":"complete|incomplete|missing","problems":[...]}

"missing" means neither the certificate nor the Thing is there.

Exit status: 0 when every valid device is complete; 1 when any is not (or the
run was interrupted); 2 for argument or preflight errors, an unreadable
manifest, or an AWS call that failed for good (an endpoint that became
unreachable among them).`,
		Args: exactlyOneArg(errExactlyOneManifest),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	o.bind(f, "checked to be attached", "checked to be each Thing's", "checked to hold each Thing",
		"DescribeCertificate and ListPrincipalThings", "checked")
	f.StringVar(&o.output, "output", "table", "output format: table or json (one line per device)")
	return cmd
}

// quotaTable is verify's: its two per-device calls at --rate, DescribeThing
// (for some devices) at least as fast, then every --quota (checked).
func (o *verifyOptions) quotaTable() map[string]float64 {
	q, _ := o.aws.pace.table([]string{ratelimit.OpDescribeCertificate, ratelimit.OpListPrincipalThings},
		map[string]int{ratelimit.OpDescribeThing: 1})
	return q
}

func runVerify(cmd *cobra.Command, g *globalOptions, o *verifyOptions, path string) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	if err := o.check(); err != nil {
		return err
	}
	if o.output != "table" && o.output != "json" {
		return usageError{fmt.Errorf("--output %q: want table or json", o.output)}
	}
	store, err := o.manifest.prepare(path)
	if err != nil {
		return err
	}
	client, _, _, err := o.aws.connect(ctx)
	if err != nil {
		return err
	}
	caller, err := awsiot.NewCaller(o.quotaTable())
	if err != nil {
		return usageError{err}
	}
	started := time.Now()
	v := verify.New(client, o.aws.target(), caller)
	idx, err := v.Load(ctx)
	if err != nil {
		return err
	}
	src, _, err := o.manifest.open(ctx, path, g)
	if err != nil {
		return err
	}
	defer src.Close()

	sum := verify.Summary{Target: o.aws.target()}
	enc := json.NewEncoder(out)
	var writeErr error
	err = v.CheckAll(ctx, idx, o.aws.workerCount(), func(emit func(verify.Device) error) error {
		return validate.Run(ctx, src, o.manifest.validateOptions(path, store), func(d *validate.Checked) error {
			if !d.OK() {
				sum.Invalid++
				return nil
			}
			return emit(verify.Device{ChipID: d.ChipID, ThingName: d.ThingName, CertificateID: d.CertificateID})
		})
	}, func(r verify.Result) {
		sum.Add(r)
		if o.output == "json" && writeErr == nil {
			writeErr = enc.Encode(r)
		}
	})
	if err != nil {
		return err
	}
	if writeErr != nil {
		return writeErr
	}
	sum.Calls, sum.Seconds = caller.Calls(), time.Since(started).Seconds()
	if o.output == "table" {
		if err := sum.WriteTable(out); err != nil {
			return err
		}
	}
	if !sum.OK() {
		return errSomeDevices
	}
	return nil
}
