// Command importer is the importer Lambda function of the thingpress
// stack: it imports the devices of import queue messages into AWS IoT
// Core and reports partial batch failures. See internal/queueimport.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/queueimport"
)

func main() {
	h, err := queueimport.FromEnv(context.Background(), lambdarun.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("importer: cannot start", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
