package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// ErrNoCredentials means the configuration chain found no credentials.
var ErrNoCredentials = errors.New("no AWS credentials found")

// ErrProfile means the --profile named is not configured.
var ErrProfile = errors.New("AWS profile not found")

// Where names the account, region and endpoint a call went to, for
// messages: the region tells most wrong-account mistakes.
type Where struct {
	Region   string
	Account  string // empty when unknown
	Endpoint string // empty for AWS's own
}

// String is e.g. "region eu-west-1, account 123456789012".
func (w Where) String() string {
	var parts []string
	if w.Region != "" {
		parts = append(parts, "region "+w.Region)
	}
	if w.Account != "" {
		parts = append(parts, "account "+w.Account)
	}
	if w.Endpoint != "" {
		parts = append(parts, "endpoint "+w.Endpoint)
	}
	return strings.Join(parts, ", ")
}

// Unreachable reports whether err is a connection refused, a connection
// that timed out (ConnectTimeout: the packets are dropped) or a host name
// that does not exist: the endpoint is wrong or down, and retrying at
// once cannot help.
func Unreachable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || dialTimeout(err)
}

// NotSent reports whether err is an attempt that never reached the
// endpoint: its connection could not be made (refused, no route, no
// answer to connecting) or its host name could not be resolved. Nothing
// it asked for can have taken effect. A connection that broke once the
// request was on its way (a reset, a timeout awaiting the answer) is not
// NotSent. Every Unreachable error is NotSent.
func NotSent(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// dialTimeout reports whether err is a connection attempt that timed out.
func dialTimeout(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && op.Timeout()
}

// Code is the AWS error code of err, or "" when err is not an AWS error.
func Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// Hint is what to do about an error of an AWS call that a person can fix
// in the configuration, or "".
func Hint(err error) string {
	switch Code(err) {
	case "UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSignatureException":
		return "the credentials are not valid here: check them (`aws configure`), --profile and --region"
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		return "the credentials have expired: renew them (`aws sso login`, or new keys), or pass another --profile"
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError":
		return "the caller lacks a permission (see --help for the ones needed), or --profile names the wrong one"
	}
	return ""
}

// Message is an error from an AWS call for a person: the AWS error's code
// and message without the SDK's operation and request-ID wrapping, or
// what could not be reached and what to check.
func Message(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		// Without a closing period: more may follow.
		if m := strings.TrimSuffix(api.ErrorMessage(), "."); m != "" {
			return api.ErrorCode() + ": " + m
		}
		return api.ErrorCode()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot resolve %s (%s): check the endpoint URL and --region, and the network", dns.Name, dns.Err)
	}
	var dial *net.OpError
	if dialTimeout(err) && errors.As(err, &dial) {
		return fmt.Sprintf("cannot reach %s (no answer to connecting within %s): check the endpoint URL and --region, and the network (a firewall may drop the packets)", dial.Addr, ConnectTimeout)
	}
	if errors.As(err, &dial) && dial.Op == "dial" {
		return fmt.Sprintf("cannot connect to %s (%v): check the endpoint URL and --region, and the network", dial.Addr, dial.Err)
	}
	return err.Error()
}

// accountTimeout bounds the one call of Account: it only adds to a
// message.
const accountTimeout = 3 * time.Second

// Account is the account ID of cfg's credentials (STS GetCallerIdentity,
// which needs no permission), at endpoint when not empty, or "" when it
// cannot be had quickly. It is called for messages only, never retried.
func Account(ctx context.Context, cfg aws.Config, endpoint string) string {
	ctx, cancel := context.WithTimeout(ctx, accountTimeout)
	defer cancel()
	out, err := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.Retryer = aws.NopRetryer{}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return ""
	}
	return aws.ToString(out.Account)
}
