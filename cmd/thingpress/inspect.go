package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/thingpress/thingpress/internal/inspect"
	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/trust"
)

// The corpus of bad devices that TestInspectCorpus runs inspect over.
//go:generate go test -run ^TestInspectCorpus$ -write-corpus -update

type inspectOptions struct {
	manifest manifestOptions
	output   string
	validAt  string
	progress string
}

func newInspectCmd(g *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [flags] MANIFEST",
		Short: "Show what a manifest holds and which devices could not be imported, and why",
		Long: `inspect reads a manifest, checks every device certificate and shows a summary
followed by each invalid device with its reason. Nothing is sent anywhere.

The vendor is detected from the content, or forced with --vendor:
  infineon   a reel bundle (7z) or an XML manifest; chains checked against the
             embedded Infineon CAs (or --trust)
  microchip  a JSON array of signed JWS entries; each signature is checked against
             the embedded Microchip signers (--signer adds more) and the device
             certificate against the CA certificate after it; the Thing is named
             by the signed uniqueId
  espressif  a CSV of MAC,cn,cert; the Thing is named by the MAC
  generated  one base64 PEM certificate per line
Espressif and generated certificates have no public CA: give --trust FILE or
--no-verify-chain. --cert-type is for Infineon only, --signer for Microchip only.
--format is a deprecated alias of --vendor.

A device is valid when its entry holds exactly one certificate and no private key
material in any form; its chip, reel and batch IDs are valid Thing attributes (an
Infineon chip ID has 20 hex characters); the certificate is within its validity
period, is a device certificate AWS IoT accepts (not a CA; key usage allowing
digitalSignature and extended key usage allowing clientAuth, if present; one
subject CN; RSA >= 2048 bits or ECDSA P-256/P-384/P-521; no SHA-1 or MD5
signature) and chains to the trust anchors; its thing name (the vendor's, or the
CN, or what --thing-name TEMPLATE gives, as import would name it) is valid; its
attributes are valid Thing attributes; and no earlier device has the same
certificate, chip ID or thing name.

Exit status: 0 when every device is ok, 1 when any device is invalid (the output
is still complete) or the run was interrupted (Ctrl-C, SIGTERM), 2 when the
manifest cannot be read or the arguments are wrong.`,
		Args: exactlyOneArg(errExactlyOneManifest),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd, g, o, args[0])
		},
	}
	o.manifest.bind(cmd.Flags())
	cmd.Flags().StringVar(&o.validAt, "valid-at", "", "check validity periods at this time (RFC 3339, e.g. a deployment date) instead of now")
	o.manifest.bindThingName(cmd.Flags(), "name each Thing as import --thing-name TEMPLATE would, to see the names and check them")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output: table (summary, then invalid devices) or json (JSON Lines, one object per device)")
	bindProgress(cmd.Flags(), &o.progress)
	return cmd
}

func runInspect(cmd *cobra.Command, g *globalOptions, o *inspectOptions, path string) error {
	if err := o.manifest.check(); err != nil {
		return err
	}
	out, err := inspect.ParseOutput(o.output)
	if err != nil {
		return usageError{fmt.Errorf("--output: %w", err)}
	}
	if err := checkProgress(&o.progress); err != nil {
		return err
	}
	var now func() time.Time
	if o.validAt != "" {
		at, err := time.Parse(time.RFC3339, o.validAt)
		if err != nil {
			return usageError{fmt.Errorf("--valid-at: %w", err)}
		}
		now = func() time.Time { return at }
	}
	store, err := o.manifest.prepare(path)
	if err != nil {
		return err
	}
	vopts := o.manifest.validateOptions(path, store)
	vopts.Now = now
	res, err := inspectManifest(cmd, g, &o.manifest, path, o.progress, store, inspect.Options{
		Output:   out,
		Validate: vopts,
		Summary:  inspect.Summary{ValidAt: o.validAt},
	})
	if err != nil {
		return err
	}
	if res.Invalid > 0 {
		return errSomeDevices
	}
	return nil
}

// inspectManifest checks every device of the manifest at path, which m's
// prepare found (store: its trust store), and writes them to standard
// output as inspect does, with a progress display of mode: inspect, and
// upload before it uploads. The summary of opts gets the file, format,
// slot and trust facts.
func inspectManifest(cmd *cobra.Command, g *globalOptions, m *manifestOptions, path, mode string, store *trust.Store, opts inspect.Options) (*inspect.Summary, error) {
	// Started before the manifest opens: a bundle's inner archive is
	// spooled first, which takes a while on a large reel.
	meter := newMeter(mode, cmd.ErrOrStderr(), true)
	src, ft, err := openMetered(cmd.Context(), m, path, g, meter)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	sum := &opts.Summary
	sum.File, sum.Format, sum.Vendor = path, string(ft), ft.Vendor()
	sum.ChainChecked, sum.SignedBy = store != nil, m.signerNames()
	if ft == format.Infineon || ft == format.XML {
		sum.Slot = m.certType
	}
	if store != nil {
		sum.Anchors, sum.Refused = store.Anchors(), store.Rejected()
	}
	var stop func()
	opts.OnDevice, stop = meterHooks(meter)
	opts.AfterRead = stop
	defer stop()
	return inspect.Run(cmd.Context(), src, cmd.OutOrStdout(), opts)
}
