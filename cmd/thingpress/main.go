// Command thingpress imports the X.509 certificates that chip makers
// provision into secure elements into AWS IoT Core. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(runMain(os.Args[1:])) }

// runMain runs the command line with Ctrl-C and SIGTERM cancelling the
// context, so an import stops cleanly after its calls in flight.
func runMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdout, os.Stderr)
}
