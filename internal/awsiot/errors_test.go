package awsiot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/thingpress/thingpress/internal/awsconf"
)

func TestClassify(t *testing.T) {
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{name: "throttling", err: api("ThrottlingException"), want: Throttled},
		{name: "too many requests", err: api("TooManyRequestsException"), want: Throttled},
		{name: "internal failure", err: api("InternalFailureException"), want: Transient},
		{name: "service unavailable", err: api("ServiceUnavailableException"), want: Transient},
		{name: "already exists", err: &types.ResourceAlreadyExistsException{Message: aws.String("x")}, want: Exists},
		{name: "limit exceeded is a count limit", err: &types.LimitExceededException{Message: aws.String("x")}, want: Permanent},
		{name: "invalid request", err: &types.InvalidRequestException{Message: aws.String("x")}, want: Permanent},
		{name: "certificate validation", err: &types.CertificateValidationException{Message: aws.String("x")}, want: Permanent},
		{name: "unauthorized", err: &types.UnauthorizedException{Message: aws.String("x")}, want: Permanent},
		{name: "not found", err: &types.ResourceNotFoundException{Message: aws.String("x")}, want: Permanent},
		{name: "wrapped throttling", err: fmt.Errorf("op: %w", api("ThrottlingException")), want: Throttled},
		{name: "connection reset", err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}}, want: Transient},
		{name: "unexpected EOF", err: &smithyhttp.RequestSendError{Err: io.ErrUnexpectedEOF}, want: Transient},
		{name: "cancelled", err: context.Canceled, want: Permanent},
		{name: "refused", err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, want: Unsent},
		{name: "dial cut off by ctx", err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}}, want: Unsent},
		{name: "no such host", err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, want: Unsent},
		{name: "plain error", err: errors.New("boom"), want: Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestAlreadyExistsAndMessage(t *testing.T) {
	err := fmt.Errorf("register: %w", &types.ResourceAlreadyExistsException{
		Message:    aws.String("The certificate is already provisioned or registered"),
		ResourceId: aws.String("abc"), ResourceArn: aws.String("arn:aws:iot:us-east-1:1:cert/abc"),
	})
	id, arn, ok := AlreadyExists(err)
	if !ok || id != "abc" || arn != "arn:aws:iot:us-east-1:1:cert/abc" {
		t.Errorf("AlreadyExists = %q, %q, %v", id, arn, ok)
	}
	if _, _, ok := AlreadyExists(errors.New("x")); ok {
		t.Error("AlreadyExists on a plain error")
	}
	if got, want := Message(err), "ResourceAlreadyExistsException: The certificate is already provisioned or registered"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if got := awsconf.Code(err); got != "ResourceAlreadyExistsException" {
		t.Errorf("Code = %q", got)
	}
}

func TestMessageUnreachableEndpoint(t *testing.T) {
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", "127.0.0.1:1")
	if err == nil {
		conn.Close()
		t.Skip("something listens on 127.0.0.1:1")
	}
	got := Message(fmt.Errorf("operation error IoT: GetPolicy, exceeded maximum number of attempts: %w", err))
	if !strings.Contains(got, "cannot connect to 127.0.0.1:1") || !strings.Contains(got, "endpoint URL and --region") {
		t.Errorf("Message = %q, want it to name the address and what to check", got)
	}
}

func TestNotSent(t *testing.T) {
	send := func(err error) error {
		return &smithy.OperationError{ServiceID: "IoT", OperationName: "CreateThing", Err: &smithyhttp.RequestSendError{Err: err}}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "refused", err: send(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), want: true},
		{name: "network unreachable", err: send(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ENETUNREACH}), want: true},
		{name: "no such host", err: send(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}), want: true},
		{name: "reset after sending", err: send(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})},
		{name: "unexpected EOF", err: send(io.ErrUnexpectedEOF)},
		{name: "5xx", err: &smithy.GenericAPIError{Code: "InternalFailureException"}},
		{name: "cancelled", err: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NotSent(tt.err); got != tt.want {
				t.Errorf("NotSent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestCallError(t *testing.T) {
	refusal := &types.InvalidRequestException{Message: aws.String("bad name.")}
	fault := &smithy.GenericAPIError{Code: "InternalFailureException", Message: "m"}
	tests := []struct {
		name       string
		err        error
		want       string
		wantGaveUp bool
	}{
		{name: "refusal", err: fmt.Errorf("operation error IoT: CreateThing: %w", refusal), want: "CreateThing: InvalidRequestException: bad name"},
		{name: "retries ran out", err: fmt.Errorf("%w after 3 attempts: %w", ErrGaveUp, fault), want: "CreateThing: InternalFailureException: m (retries ran out)", wantGaveUp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := error(&CallError{Op: "CreateThing", Err: tt.err})
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(err, tt.err) || errors.Is(err, ErrGaveUp) != tt.wantGaveUp {
				t.Errorf("err %v does not wrap %v, or Is(ErrGaveUp) != %v", err, tt.err, tt.wantGaveUp)
			}
		})
	}
}

func TestReason(t *testing.T) {
	inner := &types.InvalidRequestException{Message: aws.String("bad name.")}
	err := fmt.Errorf("device chip: %w", Reason(fmt.Errorf("operation error IoT: DescribeThing: %w", inner)))
	if got, want := err.Error(), "device chip: InvalidRequestException: bad name"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) || awsconf.Code(err) != "InvalidRequestException" {
		t.Errorf("%v does not keep the chain to %v", err, inner)
	}
}
