package stackclient

import (
	"context"

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

		DynamoDB: dynamodb.NewFromConfig(cfg),
		SNS:      sns.NewFromConfig(cfg),
	}
}

// BucketName is the upload bucket of the stack named stackName.
func BucketName(stackName string) string { return stackName + stack.BucketSuffix }
