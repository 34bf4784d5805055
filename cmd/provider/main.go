// Command provider is the provider Lambda function of the thingpress
// stack: it reads each manifest uploaded to the stack's buckets and sends
// its valid devices to the import queue. See internal/provider.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/provider"
)

func main() {
	h, err := provider.FromEnv(context.Background(), lambdarun.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("provider: cannot start", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
