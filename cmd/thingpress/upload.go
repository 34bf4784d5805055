package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/stackclient"
)

type uploadOptions struct {
	stack         string
	bucket        string
	key           string
	summaryPrefix string
	aws           stackAWSOptions
}

func newUploadCmd(g *globalOptions) *cobra.Command {
	o := &uploadOptions{}
	cmd := &cobra.Command{
		Use:   "upload --stack NAME [flags] MANIFEST",
		Short: "Put a manifest into a deployed thingpress stack's bucket, which starts its import",
		Long: `upload puts a manifest (an Infineon .7z reel bundle or an .xml manifest) into the
upload bucket of a thingpress stack deployed with template.yaml, <stack>-infineon.
The new object starts the stack's provider function, which validates the
manifest and queues its valid devices for import. Files larger than one part
(16 MiB) are uploaded in parts, several at once.

The key is the file's name unless --key names another; it must end in .7z or
.xml in lower case, or the stack ignores it. Follow the import with
'thingpress status --stack NAME'.

The caller needs s3:PutObject on the bucket (and, for multipart uploads,
s3:AbortMultipartUpload).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errExactlyOneManifest}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpload(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "name of the deployed thingpress stack (required unless --bucket)")
	f.StringVar(&o.bucket, "bucket", "", "upload bucket (default: <stack>-infineon)")
	f.StringVar(&o.key, "key", "", "object key (default: the file's name)")
	f.StringVar(&o.summaryPrefix, "summary-prefix", "", "the stack's summary prefix, which uploads must avoid (default thingpress/summaries/)")
	o.aws.bind(f)
	return cmd
}

func runUpload(cmd *cobra.Command, o *uploadOptions, path string) error {
	if o.stack == "" && o.bucket == "" {
		return usageError{errors.New("--stack is required")}
	}
	bucket := o.bucket
	if bucket == "" {
		bucket = stackclient.BucketName(o.stack)
	}
	key := o.key
	if key == "" {
		key = filepath.Base(path)
	}
	if err := stackclient.CheckKey(key, o.summaryPrefix); err != nil {
		return usageError{err}
	}
	ctx := cmd.Context()
	c, err := o.aws.client(ctx)
	if err != nil {
		return err
	}
	res, err := c.Upload(ctx, stackclient.UploadInput{Bucket: bucket, Key: key, Path: path, SummaryPrefix: o.summaryPrefix})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	how := "in one request"
	if res.Parts {
		how = "in parts"
	}
	fmt.Fprintf(out, "Uploaded %s (%d bytes, %s) to s3://%s/%s\n", path, res.Size, how, res.Bucket, res.Key)
	if res.VersionID != "" {
		fmt.Fprintf(out, "Version: %s\n", res.VersionID)
	}
	if o.stack != "" {
		fmt.Fprintf(out, "Follow the import with: thingpress status --stack %s\n", o.stack)
	}
	return nil
}
