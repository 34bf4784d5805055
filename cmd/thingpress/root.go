package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type globalOptions struct {
	logLevel string
	stderr   io.Writer
	logger   *slog.Logger
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{stderr: stderr}
	cmd := &cobra.Command{
		Use:   "thingpress",
		Short: "Import chip makers' device certificates into AWS IoT Core",
		Long: `thingpress reads the certificate manifests that chip makers deliver with a reel
of secure elements (Infineon OPTIGA Trust M Express bundles and XML manifests,
Microchip Trust&GO/TrustFLEX/TrustCUSTOM JSON manifests, Espressif CSV manifests
and generated manifests of base64 PEM lines), checks every certificate (against
Infineon's CAs, a Microchip manifest's signatures, or the CAs given with --trust),
and imports each chip into AWS IoT Core as a Thing with its certificate
registered and active. verify checks an import in AWS without changing
anything; remove undoes it.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)}
			}
			g.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
			return nil
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	cmd.AddCommand(newInspectCmd(g), newImportCmd(g), newBindCmd(g), newVerifyCmd(g), newRemoveCmd(g), newUploadCmd(g), newStatusCmd(g), newRetryCmd(g), newGenerateCmd(g))
	return cmd
}

// run executes the command line and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCmd(stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	code := exitCode(err)
	switch {
	case err == nil || errors.Is(err, errSomeDevices):
		// The output already says what happened.
	case errors.Is(err, context.Canceled):
		why := "interrupted"
		// A signal's cause says which one (and is also context.Canceled).
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			why += " (" + cause.Error() + ")"
		}
		fmt.Fprintf(stderr, "thingpress: %s: %s\n", why, oneLine(err.Error()))
	default:
		fmt.Fprintf(stderr, "thingpress: %s\n", oneLine(err.Error()))
	}
	return code
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
