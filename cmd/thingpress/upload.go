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
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
)

type uploadOptions struct {
	stack         string
	bucket        string
	vendor        string
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
trust/ca.pem (see docs/deployment.md).

Before uploading, the file is read and checked as inspect does, as its
bucket's vendor, and what it holds (vendor, reel, devices, invalid ones and
why) is shown. A file the stack would refuse is not uploaded: one no vendor's
reader recognises (whatever its name), a damaged one, one without the slot, or
one with no valid device. --force uploads it anyway. --cert-type should be the
stack's CertificateType, --trust the CAs its provider checks (TRUST_ANCHORS_PEM
for Infineon, trust/ca.pem for Espressif and generated manifests: without
--trust their chains are not checked here) and --signer any Microchip signer
of your own (the stack's are in trust/signers.pem of its Microchip bucket).

Follow the import with
'thingpress status --stack NAME'.

The caller needs s3:PutObject on the bucket (and, for multipart uploads,
s3:AbortMultipartUpload).`,
		Args: exactlyOneArg(errExactlyOneManifest),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpload(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stack, "stack", "", "name of the deployed thingpress stack (required unless --bucket)")
	f.StringVar(&o.bucket, "bucket", "", "upload bucket (default: <stack>-<vendor>)")
	f.StringVar(&o.vendor, "vendor", "auto", "chip maker whose manifest this is, which picks the bucket: "+strings.Join(format.Vendors, ", ")+" (auto detects it from the content)")
	f.StringVar(&o.key, "key", "", "object key (default: the file's name)")
	f.StringVar(&o.summaryPrefix, "summary-prefix", "", "the stack's summary prefix, which uploads must avoid (default thingpress/summaries/)")
	f.BoolVar(&o.force, "force", false, "upload even a file the checks say the stack would refuse")
	bindProgress(f, &o.progress)
	o.manifest = manifestOptions{vendor: "auto", format: "auto", flags: f}
	f.StringVar(&o.manifest.certType, "cert-type", manifest.DefaultSlot, "certificate slot the stack reads (its CertificateType), for the checks: "+strings.Join(manifest.Slots, ", "))
	f.StringVar(&o.manifest.trustFile, "trust", "", "PEM file of the CAs the stack's provider trusts (its TRUST_ANCHORS_PEM, if set), for the checks (default: the embedded Infineon CAs; for Espressif and generated manifests the CA of the bucket's trust/ca.pem, without which their chains are not checked here)")
	f.StringVar(&o.manifest.signerFile, "signer", "", "Microchip only: PEM file of manifest signer certificates, added to the embedded Microchip signers, for the checks")
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
	// The configuration first: it fails at once, reading a reel takes time.
	c, err := o.aws.client(ctx)
	if err != nil {
		return err
	}
	if err := checkUpload(cmd, g, o, path, vendor); err != nil {
		var pe *fs.PathError
		if !o.force || errors.Is(err, context.Canceled) || errors.As(err, &pe) {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: --force: uploading although %s\n", strings.TrimSuffix(err.Error(), " (--force uploads it anyway)"))
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

// errStackRefuses wraps what the stack would refuse in a file.
var errStackRefuses = errors.New("the stack would refuse it (--force uploads it anyway)")

// checkUpload reads and checks the manifest at path as inspect and the
// stack's provider do, and shows what it holds. It returns an error when
// the stack would refuse the file, or find nothing to import in it.
func checkUpload(cmd *cobra.Command, g *globalOptions, o *uploadOptions, path string, vendor stack.Vendor) error {
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
	if bucketVendor(ft) != vendor {
		return refuse(fmt.Errorf("%s: vendor %s: the stack's %s bucket reads only %s manifests", path, bucketVendor(ft), vendor, vendor))
	}
	// Espressif and generated chains are checked in the stack against
	// the bucket's trust/ca.pem; here only if --trust gives the CA.
	unchecked := (vendor == stack.VendorEspressif || vendor == stack.VendorGenerated) && o.manifest.trustFile == ""
	if unchecked {
		o.manifest.noVerifyChain = true
	}
	store, err := o.manifest.prepare(path)
	if err != nil {
		return err
	}
	if unchecked {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: chains not checked here: the stack checks them against trust/ca.pem in its %s bucket; give --trust to check them now\n", vendor)
	}
	res, err := inspectManifest(cmd, g, &o.manifest, path, o.progress, store, inspect.Options{
		Output:   inspect.Table,
		Validate: o.manifest.validateOptions(path, store),
	})
	if err != nil {
		return refuse(err)
	}
	fmt.Fprintln(cmd.OutOrStdout())
	if res.Valid == 0 {
		return fmt.Errorf("%s: no valid device (%d invalid): the stack would import nothing (--force uploads it anyway)", path, res.Invalid)
	}
	return nil
}
