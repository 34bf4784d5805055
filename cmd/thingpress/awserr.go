package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/awsiot"
)

// preflightIn adds to a preflight error where it looked: the region, the
// endpoint if overridden and, for something missing, the account, which
// tell a wrong region or profile at once.
func preflightIn(ctx context.Context, err error, cfg aws.Config, endpoint string) error {
	w := awsconf.Where{Region: cfg.Region, Endpoint: endpoint}
	if errors.Is(err, awsiot.ErrMissing) {
		w.Account = awsconf.Account(ctx, cfg, endpoint)
		return fmt.Errorf("%w (looked in %s): create them, or check the names, --region and --profile", err, w)
	}
	return fmt.Errorf("%w (%s)", err, w)
}
