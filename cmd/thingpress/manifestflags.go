package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

// manifestOptions are the flags of every command that reads a manifest.
type manifestOptions struct {
	certType      string
	trustFile     string
	noVerifyChain bool
	format        string
}

func (o *manifestOptions) bind(fs *pflag.FlagSet) {
	fs.StringVar(&o.certType, "cert-type", manifest.DefaultSlot, "certificate slot to read: "+strings.Join(manifest.Slots, ", "))
	fs.StringVar(&o.trustFile, "trust", "", "PEM file of CA certificates that replaces the embedded Infineon CAs (self-signed ones are roots)")
	fs.BoolVar(&o.noVerifyChain, "no-verify-chain", false, "do not check that certificates chain to a trusted CA")
	fs.StringVar(&o.format, "format", "auto", "manifest format: "+strings.Join(format.Names, ", "))
}

// check validates the flag values.
func (o *manifestOptions) check() error {
	if !manifest.ValidSlot(o.certType) {
		return usageError{fmt.Errorf("--cert-type %q: %w (want one of %s)", o.certType, manifest.ErrBadSlot, strings.Join(manifest.Slots, ", "))}
	}
	if o.trustFile != "" && o.noVerifyChain {
		return usageError{fmt.Errorf("--trust and --no-verify-chain exclude each other")}
	}
	if _, err := format.Parse(o.format); err != nil {
		return usageError{fmt.Errorf("--format: %w", err)}
	}
	return nil
}

// trustStore returns the store to verify chains with, or nil with
// --no-verify-chain.
func (o *manifestOptions) trustStore() (*trust.Store, error) {
	if o.noVerifyChain {
		return nil, nil
	}
	if o.trustFile == "" {
		return trust.Infineon()
	}
	data, err := os.ReadFile(o.trustFile)
	if err != nil {
		return nil, fmt.Errorf("--trust: %w", err)
	}
	s, err := trust.FromPEM(data)
	if err != nil {
		return nil, fmt.Errorf("--trust %s: %w", o.trustFile, err)
	}
	return s, nil
}

// open opens the manifest at path; it stops when ctx is done.
func (o *manifestOptions) open(ctx context.Context, path string, g *globalOptions) (manifest.Source, format.Format, error) {
	f, _ := format.Parse(o.format)
	return format.OpenContext(ctx, path, f, manifest.Options{Slot: o.certType, Logger: g.logger})
}

// validateOptions are the validation settings for the manifest at path.
func (o *manifestOptions) validateOptions(path string, store *trust.Store) validate.Options {
	return validate.Options{File: path, Trust: store}
}
