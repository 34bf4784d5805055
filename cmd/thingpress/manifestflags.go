package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/manifest/microchip"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

// manifestOptions are the flags of every command that reads a manifest.
type manifestOptions struct {
	certType      string
	trustFile     string
	noVerifyChain bool
	format        string
	vendor        string
	signerFile    string
	flags         *pflag.FlagSet
	// thingName is --thing-name, of the commands that bindThingName
	// gives it (import, inspect, verify, remove); check parses it into
	// nameTemplate.
	thingName    string
	nameTemplate *validate.NameTemplate

	// Set by prepare: the manifest's format and the Microchip signers.
	resolved format.Format
	signers  *microchip.Signers
}

func (o *manifestOptions) bind(fs *pflag.FlagSet) {
	o.flags = fs
	fs.StringVar(&o.vendor, "vendor", "auto", "chip maker whose manifest this is: "+strings.Join(format.Vendors, ", ")+" (case-insensitive; auto detects it from the content)")
	fs.StringVar(&o.certType, "cert-type", manifest.DefaultSlot, "Infineon only: certificate slot to read: "+strings.Join(manifest.Slots, ", "))
	fs.StringVar(&o.trustFile, "trust", "", "PEM file of CA certificates to verify device certificates against (self-signed ones are roots); replaces the embedded Infineon CAs, and is required for Espressif and generated manifests unless --no-verify-chain")
	fs.BoolVar(&o.noVerifyChain, "no-verify-chain", false, "do not check that certificates chain to a trusted CA (a Microchip manifest's signatures are still checked)")
	fs.StringVar(&o.signerFile, "signer", "", "Microchip only: PEM file of manifest signer certificates, added to the embedded Microchip signers")
	fs.StringVar(&o.format, "format", "auto", "deprecated alias of --vendor, kept working: "+strings.Join(format.Names, ", ")+" (7z and xml pick the Infineon container)")
}

// bindThingName adds --thing-name, a template that names each Thing, with
// the help text given.
func (o *manifestOptions) bindThingName(fs *pflag.FlagSet, help string) {
	fs.StringVar(&o.thingName, "thing-name", "", help)
}

// check validates the flag values that need no manifest.
func (o *manifestOptions) check() error {
	o.certType = strings.ToUpper(o.certType)
	if !manifest.ValidSlot(o.certType) {
		return usageError{fmt.Errorf("--cert-type %q: %w (want one of %s)", o.certType, manifest.ErrBadSlot, strings.Join(manifest.Slots, ", "))}
	}
	if o.trustFile != "" && o.noVerifyChain {
		return usageError{fmt.Errorf("--trust and --no-verify-chain exclude each other")}
	}
	f, err := format.Parse(o.format)
	if err != nil {
		return usageError{fmt.Errorf("--format: %w", err)}
	}
	v, err := format.ParseVendor(o.vendor)
	if err != nil {
		return usageError{fmt.Errorf("--vendor: %w", err)}
	}
	// --format xml with --vendor infineon is Infineon's XML manifest.
	if f != format.Auto && v != format.Auto && (f != format.XML || v != format.InfineonAny) && f.Vendor() != v.Vendor() {
		return usageError{fmt.Errorf("--format %s and --vendor %s disagree (--format is a deprecated alias of --vendor)", o.format, o.vendor)}
	}
	if o.thingName != "" && o.nameTemplate == nil {
		t, err := validate.ParseNameTemplate(o.thingName)
		if err != nil {
			return usageError{fmt.Errorf("--thing-name: %w", err)}
		}
		o.nameTemplate = t
	}
	return nil
}

// wanted is the format the flags ask for: --format if given (it may name
// the Infineon container), else --vendor.
func (o *manifestOptions) wanted() format.Format {
	if f, _ := format.Parse(o.format); f != format.Auto {
		return f
	}
	v, _ := format.ParseVendor(o.vendor)
	return v
}

// prepare finds the manifest's format, checks the flags that depend on
// it and returns the store to verify chains with (nil when none is
// checked: --no-verify-chain, or a Microchip manifest without --trust,
// whose entries the manifest signature authenticates).
func (o *manifestOptions) prepare(path string) (*trust.Store, error) {
	ft, err := format.Resolve(path, o.wanted())
	if err != nil {
		return nil, err
	}
	o.resolved = ft
	infineon := ft == format.Infineon || ft == format.XML
	name := ft.Vendor()
	if name == "" {
		name = string(ft)
	}
	if o.flags != nil && o.flags.Changed("cert-type") && !infineon {
		return nil, usageError{fmt.Errorf("--cert-type applies to Infineon manifests only (%s: vendor %s)", path, name)}
	}
	if o.signerFile != "" && ft != format.Microchip {
		return nil, usageError{fmt.Errorf("--signer applies to Microchip manifests only (%s: vendor %s)", path, name)}
	}
	if ft == format.Microchip {
		o.signers = microchip.DefaultSigners()
		if o.signerFile != "" {
			data, err := os.ReadFile(o.signerFile)
			if err != nil {
				return nil, fmt.Errorf("--signer: %w", err)
			}
			if err := o.signers.AddPEM(data); err != nil {
				return nil, fmt.Errorf("--signer %s: %w", o.signerFile, err)
			}
		}
	}
	switch {
	case o.noVerifyChain:
		return nil, nil
	case o.trustFile != "":
		data, err := os.ReadFile(o.trustFile)
		if err != nil {
			return nil, fmt.Errorf("--trust: %w", err)
		}
		s, err := trust.FromPEM(data)
		if err != nil {
			return nil, fmt.Errorf("--trust %s: %w", o.trustFile, err)
		}
		return s, nil
	case infineon:
		return trust.Infineon()
	case ft == format.Microchip:
		return nil, nil
	}
	return nil, usageError{fmt.Errorf("%s (vendor %s): its certificates have no public CA to check them against; give the CA with --trust FILE, or --no-verify-chain to import them unchecked", path, name)}
}

// signerNames names the Microchip signers in use, for the summary.
func (o *manifestOptions) signerNames() []string {
	if o.signers == nil {
		return nil
	}
	var out []string
	for _, s := range o.signers.List() {
		out = append(out, s.Cert.Subject.CommonName)
	}
	return out
}

// open opens the manifest at path as prepare found it; it stops when
// ctx is done.
func (o *manifestOptions) open(ctx context.Context, path string, g *globalOptions) (manifest.Source, format.Format, error) {
	f := o.resolved
	if f == "" {
		f = o.wanted()
	}
	return format.OpenConfig(ctx, path, f, manifest.Options{Slot: o.certType, Logger: g.logger}, format.Config{Signers: o.signers})
}

// validateOptions are the validation settings for the manifest at path.
func (o *manifestOptions) validateOptions(path string, store *trust.Store) validate.Options {
	return validate.Options{File: path, Trust: store, ThingName: o.nameTemplate}
}
