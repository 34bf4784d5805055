package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
)

type retryOptions struct {
	stack             string
	bucket            string
	summaryPrefix     string
	manifest          string
	devicesPerMessage int
	output            string
	aws               stackAWSOptions
}

func newRetryCmd(g *globalOptions) *cobra.Command {
	o := &retryOptions{}
	cmd := &cobra.Command{
		Use:   "retry --stack NAME --manifest KEY [flags]",
		Short: "Queue a done manifest's failed devices again in a deployed stack",
		Long: `retry sends the devices of a manifest that failed, as the stack's results
table lists them (thingpress status --manifest KEY --failed - shows them), back
to the import queue, without a new upload. Remove the cause first (a Thing of
the same name with other attributes, a missing policy or group, a quota).

The manifest must be done. It goes to importing until each retried device has
a new outcome, then to done again, with a new final summary and notification:
a device imported now counts as imported instead of failed; one that fails
again stays failed, with the new reason and one more attempt.

If a message cannot be sent (a device too big for one, a missing
permission, the network), retry stops there, takes the devices it did not
queue out of the retry (they stay failed, as they were) and fails, saying
how many it queued and how many not: the manifest is done as soon as the
devices queued are, and thingpress retry can be run again then. When none
is left outstanding, retry itself sets the manifest done and tells its end
(a new final summary and notification, the counts as they are).

The caller needs cloudformation:DescribeStackResources on the stack,
s3:GetObject on the summary prefix, dynamodb:GetItem, dynamodb:Query and
dynamodb:UpdateItem on the results table (also for the updates of a
transaction) and sqs:SendMessage on the import queue; to tell a manifest's
end after a failed send, cloudformation:DescribeStacks (for the
ResultsTopicArn parameter), s3:PutObject on the summary prefix and
sns:Publish on the topic.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRetry(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "name of the deployed thingpress stack (required)")
	f.StringVar(&o.manifest, "manifest", "", "object key (or s3://bucket/key) of the manifest whose failed devices to retry (required)")
	f.StringVar(&o.bucket, "bucket", "", "upload bucket (default: <stack>-infineon)")
	f.StringVar(&o.summaryPrefix, "summary-prefix", "", "key prefix of the manifest summaries (default thingpress/summaries/)")
	f.IntVar(&o.devicesPerMessage, "devices-per-message", stack.DefaultDevicesPerMessage, "devices in one import queue message (1 to 100)")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	o.aws.bind(f)
	return cmd
}

func runRetry(cmd *cobra.Command, o *retryOptions) error {
	switch {
	case o.stack == "":
		return usageError{errors.New("--stack is required")}
	case o.manifest == "":
		return usageError{errors.New("--manifest is required")}
	case o.devicesPerMessage < 1 || o.devicesPerMessage > 100:
		return usageError{fmt.Errorf("--devices-per-message %d: want 1 to 100", o.devicesPerMessage)}
	case o.output != "text" && o.output != "json":
		return usageError{fmt.Errorf("--output %q: want text or json", o.output)}
	}
	ctx := cmd.Context()
	c, err := o.aws.client(ctx)
	if err != nil {
		return err
	}
	res, err := c.Retry(ctx, stackclient.RetryInput{
		ManifestInput:     stackclient.ManifestInput{Stack: o.stack, Bucket: o.bucket, SummaryPrefix: o.summaryPrefix, Manifest: o.manifest},
		DevicesPerMessage: o.devicesPerMessage,
	})
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if res.Devices == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%s has no failed devices: nothing to retry.\n", res.Manifest)
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d failed devices queued again in %d messages (retry %d).\nFollow them with: thingpress status --stack %s --manifest %s\n",
		res.Manifest, res.Devices, res.Messages, res.Round, o.stack, o.manifest)
	return nil
}
