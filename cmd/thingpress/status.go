package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stackclient"
)

// stackAWSOptions are the AWS flags of the commands that talk to a
// deployed stack.
type stackAWSOptions struct {
	region      string
	profile     string
	endpointURL string
}

func (o *stackAWSOptions) bind(f *pflag.FlagSet) {
	f.StringVar(&o.region, "region", "", "AWS region of the stack (default: from the AWS configuration chain)")
	f.StringVar(&o.profile, "profile", "", "AWS shared configuration profile")
	f.StringVar(&o.endpointURL, "endpoint-url", "", "endpoint URL for S3, SQS, DynamoDB and CloudFormation (e.g. a local emulator); AWS_ENDPOINT_URL works too")
}

func (o *stackAWSOptions) client(ctx context.Context) (*stackclient.Client, error) {
	return stackclient.New(ctx, stackclient.Options{Region: o.region, Profile: o.profile, EndpointURL: o.endpointURL})
}

type statusOptions struct {
	stack         string
	bucket        string
	summaryPrefix string
	last          int
	manifest      string
	failed        string
	failedFormat  string
	output        string
	aws           stackAWSOptions
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status --stack NAME [flags]",
		Short: "Show a deployed thingpress stack's queues and its manifests' states and counts",
		Long: `status shows the state of a thingpress stack deployed with template.yaml: the
messages waiting, in flight and delayed in the import queue, the messages in
its dead-letter queue and in the provider's, and for the latest manifests (or
the one --manifest names) what the provider read (devices, valid, invalid)
and, from the stack's results table, what the importers did: the state
(reading, queued, importing, done, failed), the devices imported, already
there and failed, those sent back to the queue, the time it took and the
rate.

A manifest is done when each of its valid devices has an outcome. --failed
FILE (- for standard output) writes its failed devices, with their reasons
and attempts, as JSON Lines, or as an XML manifest the stack accepts again
when FILE ends in .xml or --failed-format is xml; thingpress retry queues
them again without a new upload. Messages in a dead-letter queue need
attention: see the troubleshooting section of docs/deployment.md.

The caller needs cloudformation:DescribeStackResources on the stack,
sqs:GetQueueAttributes on its queues, s3:ListBucket and s3:GetObject on the
bucket's summary prefix, and dynamodb:GetItem (and for --failed
dynamodb:Query) on the results table.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "name of the deployed thingpress stack (required)")
	f.StringVar(&o.bucket, "bucket", "", "upload bucket (default: <stack>-infineon)")
	f.StringVar(&o.summaryPrefix, "summary-prefix", "", "key prefix of the manifest summaries (default thingpress/summaries/)")
	f.IntVar(&o.last, "last", 10, "number of manifest summaries to show, newest first")
	f.StringVar(&o.manifest, "manifest", "", "show only the manifest of this object key (or s3://bucket/key)")
	f.StringVar(&o.failed, "failed", "", "write the failed devices of --manifest to this file (- for standard output)")
	f.StringVar(&o.failedFormat, "failed-format", "", "format of --failed: jsonl or xml (a manifest to upload again); default xml for a .xml file, else jsonl")
	f.StringVarP(&o.output, "output", "o", "table", "output: table (text for a person; \"text\" works too) or json")
	o.aws.bind(f)
	return cmd
}

func runStatus(cmd *cobra.Command, o *statusOptions) error {
	given := o.output
	o.output = strings.ToLower(o.output)
	if o.output == "text" {
		o.output = "table" // its old name
	}
	switch {
	case o.stack == "":
		return usageError{errors.New("--stack is required")}
	case o.last < 1:
		return usageError{fmt.Errorf("--last %d: want at least 1", o.last)}
	case o.output != "table" && o.output != "json":
		return usageError{fmt.Errorf("--output %q: want table or json", given)}
	case o.failed != "" && o.manifest == "":
		return usageError{errors.New("--failed needs --manifest")}
	}
	format := o.failedFormat
	if format == "" {
		format = "jsonl"
		if strings.HasSuffix(strings.ToLower(o.failed), ".xml") {
			format = "xml"
		}
	}
	if format != "jsonl" && format != "xml" {
		return usageError{fmt.Errorf("--failed-format %q: want jsonl or xml", o.failedFormat)}
	}
	ctx := cmd.Context()
	c, err := o.aws.client(ctx)
	if err != nil {
		return err
	}
	if o.failed != "" {
		return writeFailed(cmd, c, o, format)
	}
	st, err := c.Status(ctx, stackclient.StatusInput{Stack: o.stack, Bucket: o.bucket, SummaryPrefix: o.summaryPrefix, Last: o.last, Manifest: o.manifest})
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return st.WriteText(cmd.OutOrStdout())
}

// writeFailed writes the failed devices of o.manifest to o.failed and
// says on standard error (standard output when the devices go to a file)
// how many.
func writeFailed(cmd *cobra.Command, c *stackclient.Client, o *statusOptions, format string) (err error) {
	in := stackclient.ManifestInput{Stack: o.stack, Bucket: o.bucket, SummaryPrefix: o.summaryPrefix, Manifest: o.manifest}
	failed, err := c.FailedDevices(cmd.Context(), in)
	if err != nil {
		return err
	}
	m, devs := failed.Results, failed.Devices
	w := cmd.OutOrStdout()
	note := cmd.OutOrStdout()
	if o.failed == "-" {
		note = cmd.ErrOrStderr()
	} else {
		f, err := os.Create(o.failed)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("%s: %w", o.failed, cerr)
			}
		}()
		w = f
	}
	if format == "xml" {
		slot := failed.Summary.Slot
		if slot == "" {
			slot = manifest.DefaultSlot
		}
		err = stackclient.WriteXMLManifest(w, slot, devs)
	} else {
		err = stackclient.WriteJSONLines(w, devs)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", o.failed, err)
	}
	where := o.failed
	if where == "-" {
		where = "standard output"
	}
	fmt.Fprintf(note, "%s: %s, %d failed devices of %d valid written to %s as %s\n", o.manifest, m.State, len(devs), m.Valid, where, format)
	if m.State != results.StateDone && m.State != results.StateFailed {
		fmt.Fprintln(note, "The manifest is not done yet: more devices may still fail.")
	}
	return nil
}
