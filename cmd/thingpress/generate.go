package main

import (
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
)

type generateOptions struct {
	vendor  string
	devices int
	invalid int
	out     string
	seed    string
	slots   string
	curve   string
}

// maxGenerate caps --devices at the entries a reader takes by default.
var maxGenerate = manifest.DefaultLimits.MaxEntries

// generateFiles names the manifest generate writes for each vendor.
var generateFiles = map[string]string{
	generate.FormatInfineon:  "reel.7z",
	generate.FormatXML:       "manifest.xml",
	generate.FormatMicrochip: "manifest.json",
	generate.FormatEspressif: "manifest.csv",
	generate.FormatGenerated: "certificates.txt",
}

func newGenerateCmd(g *globalOptions) *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate --vendor VENDOR [flags]",
		Short: "Write a test manifest under a fresh test CA, to try thingpress without chips",
		Long: `generate writes a synthetic manifest in one of the formats thingpress reads,
with its certificates issued by a fresh, throw-away test CA, and writes that CA
to DIR/ca.pem (and, for Microchip, the test manifest signer to DIR/signer.pem),
then prints the inspect and import commands that take them. Nothing is sent
anywhere. The keys are made for this run and discarded: never use the
certificates for real devices.

--vendor picks the format:
  infineon   a reel bundle, DIR/reel.7z (needs the 7z command, p7zip-full)
  xml        an Infineon XML manifest, DIR/manifest.xml
  microchip  a JSON array of JWS entries signed by a test signer, DIR/manifest.json
  espressif  a CSV of MAC,cn,cert, DIR/manifest.csv
  generated  one base64 PEM certificate per line, DIR/certificates.txt
Every format needs inspect's and import's trust flag with DIR/ca.pem to check
the chains (for Infineon it replaces the embedded Infineon CAs, which did not
issue these certificates); Microchip needs their signer flag with
DIR/signer.pem too. The commands printed at the end say it exactly.

--invalid K makes the last K of the --devices N devices invalid, each for another
reason, in turn: for Infineon (bundle and XML) expired, not yet valid, unknown CA, private key,
duplicates, bad chip IDs and the other cases inspect refuses; for Microchip a
tampered payload, an unknown signer, a wrong CA, an expired certificate, a
private key, a duplicate uniqueId...; for Espressif a bad MAC, an expired
certificate, an unknown CA, a private key, no PEM, a duplicate MAC, a row with
a column too many; for generated lists a line that is not base64, an expired
certificate, an unknown CA, a private key, no PEM, a duplicate certificate.

--seed makes the reel and batch IDs, and so the chip IDs, MACs, uniqueIds and
names, the same from run to run; keys and signatures still differ.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageError{fmt.Errorf("generate takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenerate(cmd.OutOrStdout(), o, cmd.Flags())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.vendor, "vendor", "", "format to write: "+strings.Join(generate.Formats, ", ")+" (required)")
	f.IntVar(&o.devices, "devices", 10, "number of devices (1 to 10,000,000)")
	f.IntVar(&o.invalid, "invalid", 0, "how many of the devices are invalid on purpose, each for another reason (fewer than --devices)")
	f.StringVar(&o.out, "out", "thingpress-test", "directory to write the manifest, ca.pem and signer.pem to (made if missing)")
	f.StringVar(&o.seed, "seed", "", "make IDs and names reproducible from this string (default: random)")
	f.StringVar(&o.slots, "slots", strings.Join(manifest.Slots, ","), "Infineon only: comma-separated certificate slots to write")
	f.StringVar(&o.curve, "curve", "p256", "curve of the test CAs' keys: p256 or p384 (Infineon's CAs are on P-384)")
	return cmd
}

// check validates the flags and returns the options to generate with.
func (o *generateOptions) check(flags *pflag.FlagSet) (generate.Options, error) {
	var opts generate.Options
	o.vendor = strings.ToLower(o.vendor)
	if o.vendor == "" {
		return opts, usageError{fmt.Errorf("--vendor is required: one of %s", strings.Join(generate.Formats, ", "))}
	}
	if generate.CasesFor(o.vendor) == nil {
		return opts, usageError{fmt.Errorf("--vendor %q: want one of %s", o.vendor, strings.Join(generate.Formats, ", "))}
	}
	if o.devices < 1 || o.devices > maxGenerate {
		return opts, usageError{fmt.Errorf("--devices %d: want 1 to %d", o.devices, maxGenerate)}
	}
	if o.invalid < 0 || (o.invalid > 0 && o.invalid >= o.devices) {
		return opts, usageError{fmt.Errorf("--invalid %d: want 0 to %d (fewer than --devices: the duplicate cases copy a good device)", o.invalid, o.devices-1)}
	}
	if o.out == "" {
		return opts, usageError{errors.New("--out must name a directory")}
	}
	curves := map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384()}
	curve, ok := curves[strings.ToLower(o.curve)]
	if !ok {
		return opts, usageError{fmt.Errorf("--curve %q: want p256 or p384", o.curve)}
	}
	infineon := o.vendor == generate.FormatInfineon || o.vendor == generate.FormatXML
	if flags.Changed("slots") && !infineon {
		return opts, usageError{fmt.Errorf("--slots applies to Infineon formats only (--vendor %s)", o.vendor)}
	}
	var slots []string
	for _, s := range strings.Split(o.slots, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		if !manifest.ValidSlot(s) {
			return opts, usageError{fmt.Errorf("--slots: %q: %w (want some of %s)", s, manifest.ErrBadSlot, strings.Join(manifest.Slots, ", "))}
		}
		slots = append(slots, s)
	}
	if infineon && len(slots) == 0 {
		return opts, usageError{errors.New("--slots names no slot")}
	}
	opts = generate.Options{N: o.devices - o.invalid, Format: o.vendor, Slots: slots, Seed: o.seed}
	if o.invalid > 0 {
		opts.Bad, opts.Cases = true, generate.Cycle(o.vendor, o.invalid)
	}
	pki, err := generate.NewPKIOn(curve)
	if err != nil {
		return opts, err
	}
	opts.CA = pki
	return opts, nil
}

func runGenerate(stdout io.Writer, o *generateOptions, flags *pflag.FlagSet) error {
	opts, err := o.check(flags)
	if err != nil {
		return err
	}
	path := filepath.Join(o.out, generateFiles[o.vendor])
	caFile := filepath.Join(o.out, "ca.pem")
	signerFile := filepath.Join(o.out, "signer.pem")
	for _, p := range []string{path, caFile, signerFile} {
		if _, err := os.Lstat(p); err == nil {
			return usageError{fmt.Errorf("%s already exists: remove it or choose another --out", p)}
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	res, err := generate.Write(path, opts)
	if err != nil {
		return fmt.Errorf("generate %s: %w", path, err)
	}
	if err := os.WriteFile(caFile, res.PKI.PEM(), 0o644); err != nil {
		return err
	}
	trust := "--trust " + shellQuote(caFile)
	wrote := fmt.Sprintf("  %s  the test root and device CA, for --trust\n", caFile)
	if res.Signer != nil {
		if err := os.WriteFile(signerFile, res.Signer.PEM(), 0o644); err != nil {
			return err
		}
		trust += " --signer " + shellQuote(signerFile)
		wrote += fmt.Sprintf("  %s  the test manifest signer, for --signer\n", signerFile)
	}
	fmt.Fprintf(stdout, "Wrote %s: %s, %d devices (%d valid, %d invalid), reel %s\n%s",
		path, o.vendor, res.ChipIDs, res.ChipIDs-len(res.Bad), len(res.Bad), res.ReelID, wrote)
	if len(res.Bad) > 0 {
		var counts []string
		n := map[generate.BadCase]int{}
		for _, b := range res.Bad {
			if n[b.Case] == 0 {
				counts = append(counts, string(b.Case))
			}
			n[b.Case]++
		}
		for i, c := range counts {
			counts[i] = fmt.Sprintf("%s %d", c, n[generate.BadCase(c)])
		}
		fmt.Fprintf(stdout, "Invalid on purpose: %s\n", strings.Join(counts, ", "))
	}
	q := shellQuote(path)
	fmt.Fprintf(stdout, "Next:\n  thingpress inspect %s %s\n  thingpress import --policy POLICY %s %s\n", trust, q, trust, q)
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, needsQuote) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func needsQuote(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_./=:,+@%", r):
		return false
	}
	return true
}
