package awsconf

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// ErrNoRegion means no AWS region was configured.
var ErrNoRegion = errors.New("no AWS region")

// Load returns the configuration of the standard AWS chain. A region or
// profile that is not empty overrides the chain's; more adds load options
// (an HTTP client, a retryer).
func Load(ctx context.Context, region, profile string, more ...func(*config.LoadOptions) error) (aws.Config, error) {
	var loads []func(*config.LoadOptions) error
	if region != "" {
		loads = append(loads, config.WithRegion(region))
	}
	if profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(loads, more...)...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, fmt.Errorf("%w: set --region, AWS_REGION or a profile's region", ErrNoRegion)
	}
	return cfg, nil
}
