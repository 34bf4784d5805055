package awsiot

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"

	"github.com/thingpress/thingpress/internal/awsconf"
)

// ErrPreflight means a resource the import needs is missing, or could
// not be checked.
var ErrPreflight = errors.New("preflight failed")

// ErrMissing means the preflight found resources missing.
var ErrMissing = errors.New("missing in AWS IoT")

// Class says what to do about an error from AWS.
type Class int

const (
	// Permanent errors fail the device with the reason.
	Permanent Class = iota
	// Throttled errors are retried and slow the operation's rate down.
	Throttled
	// Transient errors (5xx, broken connections, timeouts) are retried.
	Transient
	// Exists means the resource is already there.
	Exists
	// Unsent errors are attempts that never reached the endpoint
	// (NotSent): retried, and counted by the Caller's breaker.
	Unsent
)

func (c Class) String() string {
	switch c {
	case Throttled:
		return "throttled"
	case Transient:
		return "transient"
	case Exists:
		return "exists"
	case Unsent:
		return "unsent"
	}
	return "permanent"
}

var (
	throttles  = retry.IsErrorThrottles(retry.DefaultThrottles)
	retryables = retry.IsErrorRetryables(append([]retry.IsErrorRetryable{retry.NoRetryCanceledError{}}, retry.DefaultRetryables...))
)

// Classify sorts an error from an IoT call by type, never by HTTP status
// alone: AWS IoT answers throttling with HTTP 400, like a bad request.
func Classify(err error) Class {
	if err == nil {
		return Permanent
	}
	if NotSent(err) {
		return Unsent
	}
	if errors.Is(err, context.Canceled) {
		return Permanent
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceAlreadyExistsException":
			return Exists
		case "LimitExceededException":
			// In IoT this is a count limit (policies per certificate,
			// groups per thing), not a rate: retrying cannot help.
			return Permanent
		case "InternalFailureException", "ServiceUnavailableException", "InternalException", "InternalServerException":
			return Transient
		}
	}
	if throttles.IsErrorThrottle(err).Bool() {
		return Throttled
	}
	if retryables.IsErrorRetryable(err).Bool() {
		return Transient
	}
	return Permanent
}

// AlreadyExists returns the ID and ARN that AWS names in a
// ResourceAlreadyExistsException (for a certificate: the existing
// certificate's).
func AlreadyExists(err error) (id, arn string, ok bool) {
	var e *types.ResourceAlreadyExistsException
	if !errors.As(err, &e) {
		return "", "", false
	}
	if e.ResourceId != nil {
		id = *e.ResourceId
	}
	if e.ResourceArn != nil {
		arn = *e.ResourceArn
	}
	return id, arn, true
}

// NotSent is awsconf.NotSent: the attempt never reached the endpoint.
func NotSent(err error) bool { return awsconf.NotSent(err) }

// CallError is a failed call of Op worded for a report: Op, then the
// AWS error's code and message (Message), and "(retries ran out)" when
// they did (ErrGaveUp). It wraps the call's error.
type CallError struct {
	Op  string
	Err error
}

func (e *CallError) Error() string {
	if errors.Is(e.Err, ErrGaveUp) {
		return e.Op + ": " + Message(e.Err) + " (retries ran out)"
	}
	return e.Op + ": " + Message(e.Err)
}

func (e *CallError) Unwrap() error { return e.Err }

// Reason is err worded as Message words it, still wrapping err: for an
// error that names what failed and keeps the chain, as
// fmt.Errorf("device %s: %w", chip, Reason(err)).
func Reason(err error) error { return reasonError{err} }

type reasonError struct{ err error }

func (e reasonError) Error() string { return Message(e.err) }
func (e reasonError) Unwrap() error { return e.err }

// Message is the AWS error's code and message, without the SDK's
// operation and request-ID wrapping, for reports (awsconf.Message); for
// the breaker's error, that the endpoint is unreachable and why.
func Message(err error) string {
	if u, ok := errors.AsType[*unreachableError](err); ok {
		return u.Error()
	}
	return awsconf.Message(err)
}
