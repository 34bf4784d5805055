package lambdarun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/emf"
	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
)

// Logger returns a JSON logger on w at the level that Lambda's logging
// controls set (AWS_LAMBDA_LOG_LEVEL) or LOG_LEVEL names; info when
// neither does.
func Logger(w io.Writer, env Env) *slog.Logger {
	lvl := slog.LevelInfo
	for _, name := range []string{"AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"} {
		if v := env.String(name, ""); v != "" {
			var l slog.Level
			if l.UnmarshalText([]byte(strings.ToUpper(v))) == nil {
				lvl = l
			}
			break
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// Clients are the S3, SQS, DynamoDB and SNS clients of a function, and
// the configuration they were made from (the IoT client is made from it
// too).
type Clients struct {
	Config   aws.Config
	S3       *s3.Client
	SQS      *sqs.Client
	DynamoDB *dynamodb.Client
	SNS      *sns.Client
}

// Attempts is how many attempts the SDK makes per S3 and SQS call of a
// function: more than its default, since a lost SendMessageBatch or
// GetObject costs a whole manifest's retry.
const Attempts = 8

// NewClients loads the AWS configuration from the environment (in Lambda:
// the function's role, region and, for tests, AWS_ENDPOINT_URL) and makes
// the S3 and SQS clients, both retried by the SDK (Attempts).
func NewClients(ctx context.Context) (*Clients, error) {
	cfg, err := awsconf.Load(ctx, "", "", config.WithRetryer(awsconf.Retryer(Attempts)))
	if errors.Is(err, awsconf.ErrNoRegion) {
		return nil, fmt.Errorf("%w: AWS_REGION is not set", ErrEnv)
	}
	if err != nil {
		return nil, err
	}
	return &Clients{
		Config: cfg, S3: awsconf.NewS3(cfg), SQS: sqs.NewFromConfig(cfg),
		DynamoDB: dynamodb.NewFromConfig(cfg), SNS: sns.NewFromConfig(cfg),
	}, nil
}

// Results returns the results table and the finisher that env names
// (RESULTS_TABLE, RESULTS_TOPIC_ARN, SUMMARY_PREFIX), or nils when no
// table is set.
func (c *Clients) Results(env Env) (*results.Table, *results.Finisher) {
	name := env.String(stack.EnvResultsTable, "")
	if name == "" {
		return nil, nil
	}
	return results.New(c.DynamoDB, name), &results.Finisher{
		S3: c.S3, SNS: c.SNS, TopicARN: env.String(stack.EnvResultsTopicARN, ""),
		SummaryPrefix: env.String(stack.EnvSummaryPrefix, stack.DefaultSummaryPrefix),
	}
}

// Function is what a function's handler is built from.
type Function struct {
	Logger  *slog.Logger
	Metrics *emf.Logger
	*Clients
	IoT *iot.Client
}

// Start sets a function up from env: the logger (Logger) on stderr, the
// metrics on stdout in the namespace env names, the S3 and SQS clients
// (NewClients) and an IoT client with iotOpts' connections and timeout,
// whose SDK retries are off (see awsiot.FromConfig).
func Start(ctx context.Context, env Env, stdout, stderr io.Writer, iotOpts awsiot.ClientOptions) (*Function, error) {
	f := &Function{
		Logger:  Logger(stderr, env),
		Metrics: emf.New(stdout, env.String(stack.EnvMetricsNamespace, stack.DefaultMetricsNamespace)),
	}
	var err error
	if f.Clients, err = NewClients(ctx); err != nil {
		return nil, err
	}
	f.IoT = awsiot.FromConfig(f.Config, iotOpts)
	return f, nil
}

// ManifestURI is how messages and summaries name a manifest:
// s3://bucket/key, the key as it is (not URL-encoded).
func ManifestURI(bucket, key string) string { return "s3://" + bucket + "/" + key }

// ManifestKey returns the key of a ManifestURI, or uri itself when it is
// not one.
func ManifestKey(uri string) string {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return uri
	}
	if _, key, ok := strings.Cut(rest, "/"); ok {
		return key
	}
	return uri
}

// DecodeKey turns the URL-encoded object key of an S3 event ("reel+a%2Bb.7z")
// into the key ("reel a+b.7z").
func DecodeKey(eventKey string) (string, error) {
	k, err := url.QueryUnescape(eventKey)
	if err != nil {
		return "", fmt.Errorf("object key %q in the event: %w", eventKey, err)
	}
	return k, nil
}

// Getenv is os.Getenv as an Env.
var Getenv Env = os.Getenv
