package stackclient

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/stack"
)

// Options select the account, region and endpoint.
type Options struct {
	Region  string // empty: from the configuration chain
	Profile string // empty: from the configuration chain
	// EndpointURL overrides the endpoint of S3, SQS, DynamoDB and CloudFormation
	// (a local emulator); AWS_ENDPOINT_URL works too.
	EndpointURL string
}

// Client talks to one account and region.
type Client struct {
	Region string
	S3     *s3.Client
	SQS    *sqs.Client
	CFN    *cloudformation.Client
	cfg    aws.Config
	// DynamoDB reads the results table; SNS is for tests of the stack.
	DynamoDB *dynamodb.Client
	SNS      *sns.Client
}

// New returns a Client from the standard AWS configuration chain.
func New(ctx context.Context, o Options) (*Client, error) {
	cfg, err := awsconf.Load(ctx, o.Region, o.Profile)
	if err != nil {
		return nil, err
	}
	if o.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(o.EndpointURL)
	}
	return FromConfig(cfg), nil
}

// FromConfig returns a Client for cfg (see awsconf.NewS3 for S3). Its
// calls are retried by cfg's retryer (awsconf.Load's).
func FromConfig(cfg aws.Config) *Client {
	return &Client{
		Region: cfg.Region,
		S3:     awsconf.NewS3(cfg),
		SQS:    sqs.NewFromConfig(cfg),
		CFN:    cloudformation.NewFromConfig(cfg),
		cfg:    cfg,

		DynamoDB: dynamodb.NewFromConfig(cfg),
		SNS:      sns.NewFromConfig(cfg),
	}
}

// where names the region, the endpoint if overridden and, when account
// is set, the account, for an error message.
func (c *Client) where(ctx context.Context, account bool) awsconf.Where {
	w := awsconf.Where{Region: c.Region, Endpoint: aws.ToString(c.cfg.BaseEndpoint)}
	if account {
		w.Account = awsconf.Account(ctx, c.cfg, "")
	}
	return w
}

// explain turns an error of an AWS call about what into one a person
// can act on: a missing resource with where it was looked for and what
// to check, anything else with the AWS error's message and where.
func (c *Client) explain(ctx context.Context, what string, err error) error {
	switch awsconf.Code(err) {
	case "NoSuchBucket":
		return fmt.Errorf("%w: %s: no such bucket (looked in %s): is the stack deployed there? check --stack or --bucket, --region and --profile", ErrStack, what, c.where(ctx, true))
	case "ValidationError":
		if strings.Contains(awsconf.Message(err), "does not exist") {
			return fmt.Errorf("%w: %s: no such stack (looked in %s): check --stack, --region and --profile", ErrStack, what, c.where(ctx, true))
		}
	}
	if hint := awsconf.Hint(err); hint != "" {
		return fmt.Errorf("%s: %s (%s): %s", what, awsconf.Message(err), c.where(ctx, false), hint)
	}
	return fmt.Errorf("%s: %s (%s)", what, awsconf.Message(err), c.where(ctx, false))
}

// BucketName is the Infineon upload bucket of the stack named stackName.
func BucketName(stackName string) string { return stackName + stack.BucketSuffix }

// VendorBucketName is vendor v's upload bucket of the stack named
// stackName.
func VendorBucketName(stackName string, v stack.Vendor) string {
	b, _ := stack.BucketOf(v)
	return stackName + b.Suffix
}
