package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	f.StringVar(&o.endpointURL, "endpoint-url", "", "endpoint URL for S3, SQS and CloudFormation (e.g. a local emulator); AWS_ENDPOINT_URL works too")
}

func (o *stackAWSOptions) client(ctx context.Context) (*stackclient.Client, error) {
	return stackclient.New(ctx, stackclient.Options{Region: o.region, Profile: o.profile, EndpointURL: o.endpointURL})
}

type statusOptions struct {
	stack         string
	bucket        string
	summaryPrefix string
	last          int
	output        string
	aws           stackAWSOptions
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status --stack NAME [flags]",
		Short: "Show a deployed thingpress stack's queues and latest manifests",
		Long: `status shows the state of a thingpress stack deployed with template.yaml: the
messages waiting, in flight and delayed in the import queue, the messages in
its dead-letter queue and in the provider's, and the summaries of the latest
manifests (devices read, valid, invalid, messages queued, and any error).

An import is finished when the import queue is empty. Messages in a
dead-letter queue need attention: see the troubleshooting section of
docs/deployment.md.

The caller needs cloudformation:DescribeStackResources on the stack,
sqs:GetQueueAttributes on its queues, and s3:ListBucket and s3:GetObject on
the bucket's summary prefix.`,
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
	}
	ctx := cmd.Context()
	c, err := o.aws.client(ctx)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, stackclient.StatusInput{Stack: o.stack, Bucket: o.bucket, SummaryPrefix: o.summaryPrefix, Last: o.last})
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
