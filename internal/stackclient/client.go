package stackclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/stack"
)

// ErrNoRegion means no AWS region was configured.
var ErrNoRegion = errors.New("no AWS region")

// Options select the account, region and endpoint.
type Options struct {
	Region  string // empty: from the configuration chain
	Profile string // empty: from the configuration chain
	// EndpointURL overrides the endpoint of S3, SQS and CloudFormation
	// (a local emulator); AWS_ENDPOINT_URL works too.
	EndpointURL string
}

// Client talks to one account and region.
type Client struct {
	Region string
	S3     *s3.Client
	SQS    *sqs.Client
	CFN    *cloudformation.Client
}

// New returns a Client from the standard AWS configuration chain.
func New(ctx context.Context, o Options) (*Client, error) {
	var loads []func(*config.LoadOptions) error
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(o.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: set --region, AWS_REGION or a profile's region", ErrNoRegion)
	}
	if o.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(o.EndpointURL)
	}
	// An emulator on a local address serves buckets by path.
	pathStyle := cfg.BaseEndpoint != nil
	return &Client{
		Region: cfg.Region,
		S3: s3.NewFromConfig(cfg, func(so *s3.Options) {
			so.UsePathStyle = pathStyle
			so.DisableLogOutputChecksumValidationSkipped = true
		}),
		SQS: sqs.NewFromConfig(cfg),
		CFN: cloudformation.NewFromConfig(cfg),
	}, nil
}

// BucketName is the upload bucket of the stack named stackName.
func BucketName(stackName string) string { return stackName + stack.BucketSuffix }
