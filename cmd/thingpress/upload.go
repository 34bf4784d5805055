package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/inspect"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/stackclient"
	"github.com/thingpress/thingpress/internal/validate"
)

type uploadOptions struct {
	stack         string
	bucket        string
	key           string
	summaryPrefix string
	force         bool
	progress      string
	manifest      manifestOptions
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

Before uploading, the file is read and checked as inspect does, and what it
holds (vendor, reel, devices, invalid ones and why) is shown. A file the stack
would refuse is not uploaded: one that is not an Infineon reel bundle or XML
manifest (whatever its name), is damaged, lacks the slot, or has no valid
device. --force uploads it anyway. --cert-type should be the stack's
CertificateType, and --trust its provider's TRUST_ANCHORS_PEM if it has one.

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
			return runUpload(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "name of the deployed thingpress stack (required unless --bucket)")
	f.StringVar(&o.bucket, "bucket", "", "upload bucket (default: <stack>-infineon)")
	f.StringVar(&o.key, "key", "", "object key (default: the file's name)")
	f.StringVar(&o.summaryPrefix, "summary-prefix", "", "the stack's summary prefix, which uploads must avoid (default thingpress/summaries/)")
	f.BoolVar(&o.force, "force", false, "upload even a file the checks say the stack would refuse")
	bindProgress(f, &o.progress)
	o.manifest = manifestOptions{vendor: "auto", format: "auto", flags: f}
	f.StringVar(&o.manifest.certType, "cert-type", manifest.DefaultSlot, "certificate slot the stack reads (its CertificateType), for the checks: "+strings.Join(manifest.Slots, ", "))
	f.StringVar(&o.manifest.trustFile, "trust", "", "PEM file of the CAs the stack's provider trusts (its TRUST_ANCHORS_PEM, if set), for the checks (default: the embedded Infineon CAs)")
	o.aws.bind(f)
	return cmd
}

func runUpload(cmd *cobra.Command, g *globalOptions, o *uploadOptions, path string) error {
	if o.stack == "" && o.bucket == "" {
		return usageError{errors.New("--stack is required")}
	}
	if err := o.manifest.check(); err != nil {
		return err
	}
	if err := checkProgress(&o.progress); err != nil {
		return err
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
	// The configuration first: it fails at once, reading a reel takes time.
	c, err := o.aws.client(ctx)
	if err != nil {
		return err
	}
	if err := checkUpload(cmd, g, o, path); err != nil {
		var pe *fs.PathError
		if !o.force || errors.Is(err, context.Canceled) || errors.As(err, &pe) {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: --force: uploading although %s\n", strings.TrimSuffix(err.Error(), " (--force uploads it anyway)"))
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

// errStackRefuses wraps what the stack would refuse in a file.
var errStackRefuses = errors.New("the stack would refuse it (--force uploads it anyway)")

// checkUpload reads and checks the manifest at path as inspect and the
// stack's provider do, and shows what it holds. It returns an error when
// the stack would refuse the file, or find nothing to import in it.
func checkUpload(cmd *cobra.Command, g *globalOptions, o *uploadOptions, path string) error {
	refuse := func(err error) error { return fmt.Errorf("%w: %w", err, errStackRefuses) }
	ft, err := format.Resolve(path, format.Auto)
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		// Not there or not readable: nothing to upload, forced or not.
		return err
	case err != nil:
		return refuse(err)
	}
	if ft != format.Infineon && ft != format.XML {
		return refuse(fmt.Errorf("%s: vendor %s: the stack reads only Infineon reel bundles and XML manifests; import it with thingpress import", path, ft.Vendor()))
	}
	store, err := o.manifest.prepare(path)
	if err != nil {
		return err
	}
	meter := newMeter(o.progress, cmd.ErrOrStderr(), true)
	src, ft, err := openMetered(cmd.Context(), &o.manifest, path, g, meter)
	if err != nil {
		return refuse(err)
	}
	defer src.Close()
	onDevice, stop := meterHooks(meter)
	sum := inspect.Summary{File: path, Format: string(ft), Vendor: ft.Vendor(), ChainChecked: true, Slot: o.manifest.certType,
		Anchors: store.Anchors(), Refused: store.Rejected()}
	res, err := inspect.Run(cmd.Context(), src, cmd.OutOrStdout(), inspect.Options{
		Output:    inspect.Table,
		Validate:  validate.Options{File: path, Trust: store},
		Summary:   sum,
		OnDevice:  onDevice,
		AfterRead: stop,
	})
	stop()
	if err != nil {
		return refuse(err)
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if res.OK == 0 {
		return fmt.Errorf("%s: no valid device (%d invalid): the stack would import nothing (--force uploads it anyway)", path, res.Invalid)
	}
	return nil
}
