package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
)

// ErrNoRegion means no AWS region was configured.
var ErrNoRegion = errors.New("no AWS region")

// DefaultAttempts is how many attempts the retryer of Load makes per call:
// the SDK's default.
const DefaultAttempts = retry.DefaultMaxAttempts

// ConnectTimeout bounds how long a client waits for a TCP connection to
// an endpoint. With the SDK's 30 s, an endpoint that drops packets (a
// firewall, a wrong private address) would cost half a minute per
// attempt; a reachable endpoint connects in well under a second.
const ConnectTimeout = 5 * time.Second

// HTTPClient returns the SDK's buildable HTTP client with ConnectTimeout.
// Load gives it to every client; awsiot builds the IoT client's on it.
func HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Timeout = ConnectTimeout })
}

// Load returns the configuration of the standard AWS chain, with the
// Retryer of DefaultAttempts and HTTPClient. A region or profile that is
// not empty overrides the chain's; more adds load options (an HTTP
// client, another retryer).
func Load(ctx context.Context, region, profile string, more ...func(*config.LoadOptions) error) (aws.Config, error) {
	loads := []func(*config.LoadOptions) error{config.WithRetryer(Retryer(DefaultAttempts)), config.WithHTTPClient(HTTPClient())}
	if region != "" {
		loads = append(loads, config.WithRegion(region))
	}
	if profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(profile))
	}
	// The SDK's own log lines (an instance role's IMDS fallback) would
	// only come before the error that says what is wrong.
	loads = append(loads, config.WithLogger(logging.Nop{}))
	cfg, err := config.LoadDefaultConfig(ctx, append(loads, more...)...)
	var noProfile config.SharedConfigProfileNotExistError
	switch {
	case errors.As(err, &noProfile):
		return cfg, fmt.Errorf("%w: %q is in neither ~/.aws/config nor ~/.aws/credentials: run `aws configure --profile %s`, or pass another --profile", ErrProfile, noProfile.Profile, noProfile.Profile)
	case err != nil:
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	case cfg.Region == "":
		return cfg, fmt.Errorf("%w: set --region, AWS_REGION or a profile's region", ErrNoRegion)
	}
	// The first call would look for credentials anyway (and cache them);
	// looking now says what is missing instead of the SDK's chain of
	// failed providers.
	if cfg.Credentials == nil {
		return cfg, noCredentials(profile, nil)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, noCredentials(profile, err)
	}
	return cfg, nil
}

// noCredentials says that no credentials were found, and how to give
// some; the chain's last reason only when it is not the instance role's
// absence, which every machine outside AWS has.
func noCredentials(profile string, err error) error {
	why := ""
	if err != nil && !strings.Contains(err.Error(), "IMDS") {
		inner := err
		for u := errors.Unwrap(inner); u != nil; u = errors.Unwrap(inner) {
			inner = u
		}
		why = " (" + inner.Error() + ")"
	}
	if profile != "" {
		return fmt.Errorf("%w for profile %q%s: run `aws configure --profile %s` (or `aws sso login --profile %s`)", ErrNoCredentials, profile, why, profile, profile)
	}
	return fmt.Errorf("%w (environment, ~/.aws, instance role)%s: run `aws configure`, or pass --profile", ErrNoCredentials, why)
}

// Retryer returns the SDK's standard retryer (its retryable errors, its
// jittered exponential backoff) making up to maxAttempts attempts per call,
// except that an Unreachable endpoint fails at once.
// Its client-side retry quota is off: a bulk job's many parallel calls
// would drain the shared token bucket in one brownout and then fail calls
// that one more attempt would have saved; attempts stay bounded per call.
func Retryer(maxAttempts int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.RateLimiter = ratelimit.None
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if Unreachable(err) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, o.Retryables...)
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
