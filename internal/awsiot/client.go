package awsiot

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/awsconf"
)

// API is the set of IoT calls thingpress makes. *iot.Client satisfies it.
type API interface {
	RegisterCertificateWithoutCA(ctx context.Context, in *iot.RegisterCertificateWithoutCAInput, optFns ...func(*iot.Options)) (*iot.RegisterCertificateWithoutCAOutput, error)
	CreateThing(ctx context.Context, in *iot.CreateThingInput, optFns ...func(*iot.Options)) (*iot.CreateThingOutput, error)
	AttachThingPrincipal(ctx context.Context, in *iot.AttachThingPrincipalInput, optFns ...func(*iot.Options)) (*iot.AttachThingPrincipalOutput, error)
	AttachPolicy(ctx context.Context, in *iot.AttachPolicyInput, optFns ...func(*iot.Options)) (*iot.AttachPolicyOutput, error)
	AddThingToThingGroup(ctx context.Context, in *iot.AddThingToThingGroupInput, optFns ...func(*iot.Options)) (*iot.AddThingToThingGroupOutput, error)
	// DescribeCertificate tells whether a certificate that is already
	// registered is this import's own (see importer), and finds the
	// certificate of a device to bind.
	DescribeCertificate(ctx context.Context, in *iot.DescribeCertificateInput, optFns ...func(*iot.Options)) (*iot.DescribeCertificateOutput, error)
	// UpdateCertificate activates a certificate registered INACTIVE
	// (bind).
	UpdateCertificate(ctx context.Context, in *iot.UpdateCertificateInput, optFns ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error)
	PreflightAPI
}

// PreflightAPI is the read-only calls of the preflight.
type PreflightAPI interface {
	GetPolicy(ctx context.Context, in *iot.GetPolicyInput, optFns ...func(*iot.Options)) (*iot.GetPolicyOutput, error)
	DescribeThingType(ctx context.Context, in *iot.DescribeThingTypeInput, optFns ...func(*iot.Options)) (*iot.DescribeThingTypeOutput, error)
	DescribeThingGroup(ctx context.Context, in *iot.DescribeThingGroupInput, optFns ...func(*iot.Options)) (*iot.DescribeThingGroupOutput, error)
}

var _ API = (*iot.Client)(nil)

// ClientOptions select the account, region and endpoint.
type ClientOptions struct {
	Region  string // empty: from the configuration chain
	Profile string // empty: from the configuration chain
	// EndpointURL overrides the IoT endpoint (AWS_ENDPOINT_URL and
	// AWS_ENDPOINT_URL_IOT are honoured by the SDK as well).
	EndpointURL string
	// MaxConns is the number of connections kept open to the endpoint;
	// it should match the importer's concurrency.
	MaxConns int
	// Timeout bounds one HTTP attempt.
	Timeout time.Duration
}

// NewClient returns an IoT client from the standard AWS configuration
// chain, and the configuration it was made from.
func NewClient(ctx context.Context, o ClientOptions) (*iot.Client, aws.Config, error) {
	cfg, err := awsconf.Load(ctx, o.Region, o.Profile)
	if err != nil {
		return nil, cfg, err
	}
	return FromConfig(cfg, o), cfg, nil
}

// FromConfig returns an IoT client for cfg with o's endpoint, connections
// and timeout (o's region and profile are cfg's business). The SDK's own
// retries are off: the importer retries itself, so that every throttle
// also slows its rate limiter down and it can tell a lost answer from a
// refusal; Preflight turns the SDK's retryer on for its own calls.
func FromConfig(cfg aws.Config, o ClientOptions) *iot.Client {
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	httpClient := awsconf.HTTPClient().
		WithTimeout(o.Timeout).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = o.MaxConns * 2
			t.MaxIdleConnsPerHost = o.MaxConns * 2
		})
	return iot.NewFromConfig(cfg, func(io *iot.Options) {
		io.HTTPClient = httpClient
		io.Retryer = aws.NopRetryer{}
		if o.EndpointURL != "" {
			io.BaseEndpoint = aws.String(o.EndpointURL)
		}
	})
}
