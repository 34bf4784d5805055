package awsconf

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrNoRegion means no AWS region was configured.
var ErrNoRegion = errors.New("no AWS region")

// DefaultAttempts is how many attempts the retryer of Load makes per call:
// the SDK's default.
const DefaultAttempts = retry.DefaultMaxAttempts

// Load returns the configuration of the standard AWS chain, with the
// Retryer of DefaultAttempts. A region or profile that is not empty
// overrides the chain's; more adds load options (an HTTP client, another
// retryer).
func Load(ctx context.Context, region, profile string, more ...func(*config.LoadOptions) error) (aws.Config, error) {
	loads := []func(*config.LoadOptions) error{config.WithRetryer(Retryer(DefaultAttempts))}
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

// Retryer returns the SDK's standard retryer (its retryable errors, its
// jittered exponential backoff) making up to maxAttempts attempts per call.
// Its client-side retry quota is off: a bulk job's many parallel calls
// would drain the shared token bucket in one brownout and then fail calls
// that one more attempt would have saved; attempts stay bounded per call.
func Retryer(maxAttempts int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.RateLimiter = ratelimit.None
		})
	}
}

// NewS3 returns an S3 client for cfg. An endpoint override (an emulator
// on a local address, by AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or an
// option) serves buckets by path.
func NewS3(cfg aws.Config) *s3.Client {
	pathStyle := cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}
