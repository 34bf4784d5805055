package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

// Exit statuses, decided here and nowhere else.
const (
	exitOK          = 0 // every device is ok (inspect) or imported (import)
	exitSomeDevices = 1 // some devices were invalid, skipped or failed, or the run was interrupted
	exitFatal       = 2 // bad arguments, or the manifest or AWS could not be used at all
)

// errSomeDevices says a command finished with some devices not ok; its
// output already lists them.
var errSomeDevices = errors.New("some devices are not ok")

// usageError marks a problem with the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errSomeDevices), errors.Is(err, context.Canceled):
		// Interrupted (Ctrl-C, SIGTERM) before the end: an import that
		// says so with its summary returns errSomeDevices; anything else
		// the signal stopped (spooling a manifest, a preflight call)
		// returns the context's error.
		return exitSomeDevices
	default:
		return exitFatal
	}
}

var errExactlyOneManifest = errors.New("expected exactly one MANIFEST argument")

// exactlyOneArg accepts one argument; for any other count it returns
// err as a usage error.
func exactlyOneArg(err error) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError{err}
		}
		return nil
	}
}
