package motoserver

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region the helpers configure; moto accepts any.
const Region = "us-east-1"

// AWSConfig returns an SDK configuration that sends every request to
// endpoint (the moto URL, or a proxy in front of it) with dummy static
// credentials in Region. Shared config and credentials files are ignored,
// so a developer's ~/.aws cannot redirect or re-sign test traffic; the
// environment (for example AWS_CA_BUNDLE) is still read.
//
// Do not pass a plain *http.Client with config.WithHTTPClient when
// AWS_CA_BUNDLE is set: LoadDefaultConfig then fails ("has no
// WithTransportOptions") and an ignored error leaves an unsigned client
// that moto routes to S3. Use awshttp.NewBuildableClient instead.
func AWSConfig(ctx context.Context, endpoint string, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, optFns...)...)
	if err != nil {
		return aws.Config{}, err
	}
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg, nil
}
