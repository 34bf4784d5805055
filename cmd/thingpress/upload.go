package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
)

type uploadOptions struct {
	stack         string
	bucket        string
	vendor        string
	key           string
	summaryPrefix string
	aws           stackAWSOptions
}

func newUploadCmd(g *globalOptions) *cobra.Command {
	o := &uploadOptions{}
	cmd := &cobra.Command{
		Use:   "upload --stack NAME [flags] MANIFEST",
		Short: "Put a manifest into a deployed thingpress stack's bucket of its vendor, which starts its import",
		Long: `upload puts a manifest into the upload bucket of its vendor in a thingpress
stack deployed with template.yaml: <stack>-infineon for an Infineon .7z reel
bundle or .xml manifest, <stack>-microchip for a Microchip .json manifest,
<stack>-espressif for an Espressif .csv and <stack>-generated for a .txt of
base64 PEM lines. The vendor is detected from the content unless --vendor
names it. The new object starts the stack's provider function, which
validates the manifest as its bucket's vendor and queues its valid devices for
import. Files larger than one part (16 MiB) are uploaded in parts, several at
once.

The key is the file's name unless --key names another; it must end in the
bucket's suffix in lower case (.7z or .xml, .json, .csv, .txt), or the stack
ignores it. Espressif and generated manifests need their CAs in the bucket as
trust/ca.pem (see docs/deployment.md). Follow the import with
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
	f.StringVar(&o.bucket, "bucket", "", "upload bucket (default: <stack>-<vendor>)")
	f.StringVar(&o.vendor, "vendor", "auto", "chip maker whose manifest this is, which picks the bucket: "+strings.Join(format.Vendors, ", ")+" (auto detects it from the content)")
	f.StringVar(&o.key, "key", "", "object key (default: the file's name)")
	f.StringVar(&o.summaryPrefix, "summary-prefix", "", "the stack's summary prefix, which uploads must avoid (default thingpress/summaries/)")
	o.aws.bind(f)
	return cmd
}

func runUpload(cmd *cobra.Command, o *uploadOptions, path string) error {
	if o.stack == "" && o.bucket == "" {
		return usageError{errors.New("--stack is required")}
	}
	key := o.key
	if key == "" {
		key = filepath.Base(path)
	}
	vendor, err := uploadVendor(o.vendor, path, key)
	if err != nil {
		return err
	}
	bucket := o.bucket
	if bucket == "" {
		bucket = stackclient.VendorBucketName(o.stack, vendor)
	}
	if err := stackclient.CheckVendorKey(vendor, key, o.summaryPrefix); err != nil {
		return usageError{err}
	}
	ctx := cmd.Context()
	c, err := o.aws.client(ctx)
	if err != nil {
		return err
	}
	res, err := c.Upload(ctx, stackclient.UploadInput{Bucket: bucket, Key: key, Path: path, Vendor: vendor, SummaryPrefix: o.summaryPrefix})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	how := "in one request"
	if res.Parts {
		how = "in parts"
	}
	fmt.Fprintf(out, "Uploaded %s (%d bytes, %s) to s3://%s/%s\n", path, res.Size, how, res.Bucket, res.Key)
	fmt.Fprintf(out, "Bucket: %s, the stack's %s bucket\n", res.Bucket, vendor)
	if res.VersionID != "" {
		fmt.Fprintf(out, "Version: %s\n", res.VersionID)
	}
	if o.stack != "" {
		fmt.Fprintf(out, "Follow the import with: thingpress status --stack %s\n", o.stack)
	}
	return nil
}

// uploadVendor is the vendor whose bucket takes the manifest at path: the
// --vendor value, else the one its content says, else the one its key's
// suffix says (the stack's reader then says what is wrong with it).
func uploadVendor(flag, path, key string) (stack.Vendor, error) {
	want, err := format.ParseVendor(flag)
	if err != nil {
		return "", usageError{fmt.Errorf("--vendor: %w", err)}
	}
	detected, derr := format.Detect(path)
	if errors.Is(derr, format.ErrEmpty) {
		return "", derr
	}
	var found stack.Vendor
	if derr == nil {
		found = bucketVendor(detected)
	}
	switch {
	case want != format.Auto && found != "" && bucketVendor(want) != found:
		return "", usageError{fmt.Errorf("%s holds a manifest of vendor %s, not %s (drop --vendor, or give the right file)", path, found, bucketVendor(want))}
	case want != format.Auto:
		return bucketVendor(want), nil
	case found != "":
		return found, nil
	}
	if v, ok := stackclient.VendorOfKey(key); ok {
		return v, nil
	}
	return "", usageError{fmt.Errorf("cannot tell the vendor of %s: %w; give --vendor", path, derr)}
}

// bucketVendor is the stack bucket of a manifest format: Infineon's takes
// its reel bundles and XML manifests.
func bucketVendor(f format.Format) stack.Vendor {
	switch f {
	case format.Infineon, format.InfineonAny, format.XML:
		return stack.VendorInfineon
	}
	return stack.Vendor(f)
}
