package awsiot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/smithy-go"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/testkit/closedport"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

func TestCallerTry(t *testing.T) {
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	tests := []struct {
		name          string
		answers       []error // one per attempt; the last repeats
		wantCalls     int64
		wantMaybeDone bool
		wantErr       error // nil: success
		wantCode      string
	}{
		{name: "first try", answers: []error{nil}, wantCalls: 1},
		{name: "throttled then ok", answers: []error{api("ThrottlingException"), nil}, wantCalls: 2},
		{name: "5xx then ok may be done", answers: []error{api("InternalFailureException"), nil}, wantCalls: 2, wantMaybeDone: true},
		{name: "refusal at once", answers: []error{api("InvalidRequestException")}, wantCalls: 1, wantCode: "InvalidRequestException"},
		{name: "5xx then refusal", answers: []error{api("ServiceUnavailableException"), api("ResourceAlreadyExistsException")}, wantCalls: 2, wantMaybeDone: true, wantCode: "ResourceAlreadyExistsException"},
		{name: "5xx until gave up", answers: []error{api("InternalFailureException")}, wantCalls: 3, wantMaybeDone: true, wantErr: ErrGaveUp},
		{name: "throttled until gave up", answers: []error{api("ThrottlingException")}, wantCalls: 4, wantErr: ErrGaveUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ratelimit.NewSet(map[string]float64{ratelimit.OpCreateThing: 1000})
			if err != nil {
				t.Fatal(err)
			}
			c := &Caller{Limits: set, MaxAttempts: 3, MaxThrottled: 4, BackoffBase: time.Microsecond, BackoffMax: time.Millisecond}
			err = tryAnswers(t, c, tt.answers, tt.wantCalls, tt.wantMaybeDone)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			case tt.wantCode != "" && awsconf.Code(err) != tt.wantCode:
				t.Errorf("err = %v, want code %s", err, tt.wantCode)
			case tt.wantErr == nil && tt.wantCode == "" && err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}

// tryAnswers makes one CreateThing call through c whose attempts get
// answers in turn (the last repeats), checks the attempts made and
// maybeDone, and returns Try's error.
func tryAnswers(t *testing.T, c *Caller, answers []error, wantCalls int64, wantMaybeDone bool) error {
	t.Helper()
	n := 0
	maybeDone, err := c.Try(t.Context(), t.Context(), ratelimit.OpCreateThing, func(context.Context) error {
		a := answers[min(n, len(answers)-1)]
		n++
		return a
	})
	if got := c.Calls()[ratelimit.OpCreateThing]; got != wantCalls {
		t.Errorf("calls = %d, want %d", got, wantCalls)
	}
	if maybeDone != wantMaybeDone {
		t.Errorf("maybeDone = %v, want %v", maybeDone, wantMaybeDone)
	}
	return err
}

func TestCallerInterrupted(t *testing.T) {
	c, err := NewCaller(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = c.Do(ctx, ratelimit.OpDescribeThing, func(context.Context) error {
		t.Error("call sent after ctx ended")
		return nil
	})
	if !errors.Is(err, ErrInterrupted) {
		t.Errorf("err = %v, want ErrInterrupted", err)
	}
	// Cancelled while waiting to retry.
	ctx, cancel = context.WithCancel(t.Context())
	err = c.Do(ctx, ratelimit.OpDescribeThing, func(context.Context) error {
		cancel()
		return &smithy.GenericAPIError{Code: "ThrottlingException"}
	})
	if !errors.Is(err, ErrInterrupted) || c.Throttled() != 1 {
		t.Errorf("err = %v (throttled %d), want ErrInterrupted after 1 throttle", err, c.Throttled())
	}
}

// refusedCall makes a real SDK call to addr, which refuses it, and
// returns the error as the SDK wraps it.
func refusedCall(t *testing.T, addr string) error {
	t.Helper()
	client := iot.NewFromConfig(mototest.AWSConfig(t, "http://"+addr), func(o *iot.Options) { o.Retryer = aws.NopRetryer{} })
	_, err := client.DescribeThing(t.Context(), &iot.DescribeThingInput{ThingName: aws.String("t")})
	if err == nil {
		t.Fatalf("a call to %s was answered", addr)
	}
	return err
}

// fastCaller is a Caller with short waits and a breaker of attempts
// unreachable attempts over at least span.
func fastCaller(t *testing.T, attempts int, span time.Duration) *Caller {
	t.Helper()
	set, err := ratelimit.NewSet(map[string]float64{ratelimit.OpCreateThing: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	return &Caller{Limits: set, MaxAttempts: 4, BackoffBase: time.Microsecond, BackoffMax: time.Millisecond,
		UnreachableAttempts: attempts, UnreachableFor: span}
}

func TestCallerNotSent(t *testing.T) {
	refused := refusedCall(t, closedport.Addr(t))
	if !NotSent(refused) {
		t.Fatalf("NotSent(%v) = false for a refused connection", refused)
	}
	fault := &smithy.GenericAPIError{Code: "InternalFailureException", Message: "m"}
	tests := []struct {
		name          string
		answers       []error // one per attempt; the last repeats
		wantCalls     int64
		wantMaybeDone bool
		wantErr       error // nil: success
	}{
		{name: "refused then ok is not maybe done", answers: []error{refused, refused, nil}, wantCalls: 3},
		{name: "5xx then refused then ok may be done", answers: []error{fault, refused, nil}, wantCalls: 3, wantMaybeDone: true},
		{name: "refused until the attempts ran out trips", answers: []error{refused}, wantCalls: 4, wantErr: ErrUnreachable},
		{name: "5xx then refused until they ran out", answers: []error{fault, refused}, wantCalls: 4, wantMaybeDone: true, wantErr: ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tryAnswers(t, fastCaller(t, 100, time.Hour), tt.answers, tt.wantCalls, tt.wantMaybeDone)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("err = %v", err)
			case tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInterrupted)):
				t.Errorf("err = %v, want %v, an interruption", err, tt.wantErr)
			}
		})
	}
}

func TestCallerBreaker(t *testing.T) {
	addr := closedport.Addr(t)
	refused := refusedCall(t, addr)
	api := &smithy.GenericAPIError{Code: "InvalidRequestException", Message: "m"}
	op := ratelimit.OpCreateThing
	// answer returns the answers in turn, then nil.
	answer := func(answers ...error) func(context.Context) error {
		return func(context.Context) error {
			if len(answers) == 0 {
				return nil
			}
			a := answers[0]
			answers = answers[1:]
			return a
		}
	}

	t.Run("an answer starts the count again", func(t *testing.T) {
		c := fastCaller(t, 3, time.Nanosecond)
		for i, fn := range []func(context.Context) error{
			answer(refused, refused),      // then a success
			answer(refused, refused, api), // then AWS's refusal
			answer(refused, refused),
		} {
			if _, err := c.Try(t.Context(), t.Context(), op, fn); errors.Is(err, ErrUnreachable) {
				t.Fatalf("call %d: tripped after 2 refused attempts in a row: %v", i+1, err)
			}
		}
		if err := c.Unreachable(); err != nil {
			t.Errorf("Unreachable = %v", err)
		}
	})

	t.Run("trips and stays tripped", func(t *testing.T) {
		c := fastCaller(t, 3, 20*time.Millisecond)
		c.MaxAttempts = 1000
		started := time.Now()
		maybeDone, err := c.Try(t.Context(), t.Context(), op, func(context.Context) error { return refused })
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrInterrupted) || maybeDone {
			t.Fatalf("Try = %v, %v; want ErrUnreachable, not maybe done", maybeDone, err)
		}
		if took, calls := time.Since(started), c.Calls()[op]; took < 20*time.Millisecond || calls < 3 || calls >= 1000 {
			t.Errorf("tripped after %d attempts over %v, want at least 3 over 20ms", calls, took)
		}
		if !strings.Contains(err.Error(), "cannot connect to "+addr) || !strings.Contains(Message(err), addr) {
			t.Errorf("err = %q (message %q), want it to name %s", err, Message(err), addr)
		}
		calls := c.Calls()[op]
		for range 2 {
			err := c.Do(t.Context(), op, func(context.Context) error {
				t.Error("a call made after the breaker tripped")
				return nil
			})
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("Do after the trip = %v, want ErrUnreachable", err)
			}
		}
		if c.Calls()[op] != calls || !errors.Is(c.Unreachable(), ErrUnreachable) {
			t.Errorf("calls %d after the trip, Unreachable %v", c.Calls()[op]-calls, c.Unreachable())
		}
	})

	t.Run("the trip wakes a call waiting to retry", func(t *testing.T) {
		c := fastCaller(t, 2, time.Nanosecond)
		c.BackoffBase, c.BackoffMax = time.Hour, 2*time.Hour
		fault := &smithy.GenericAPIError{Code: "ServiceUnavailableException", Message: "m"}
		waiting := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			maybeDone, err := c.Try(t.Context(), t.Context(), op, func(context.Context) error {
				close(waiting)
				return fault // then it waits up to hours
			})
			if !maybeDone {
				err = fmt.Errorf("not maybe done after a 5xx: %w", err)
			}
			done <- err
		}()
		<-waiting
		// Another call's attempts run out on a refused connection.
		if err := c.notSent(refused, true); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("notSent = %v, want ErrUnreachable", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("the waiting call = %v, want ErrUnreachable", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting call still waits after the trip")
		}
	})
}

func TestCallerPages(t *testing.T) {
	c := fastCaller(t, 100, time.Hour)
	fault := &smithy.GenericAPIError{Code: "InternalFailureException", Message: "m"}
	tokens := []string{"a", "b", ""}
	var asked []string
	failed := false
	err := c.Pages(t.Context(), ratelimit.OpCreateThing, func(_ context.Context, next *string) (*string, error) {
		asked = append(asked, aws.ToString(next))
		if len(asked) == 2 && !failed {
			failed = true
			return nil, fault // retried with the same token
		}
		tok := tokens[0]
		tokens = tokens[1:]
		return aws.String(tok), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "a", "a", "b"}; !slices.Equal(asked, want) || c.Calls()[ratelimit.OpCreateThing] != 4 {
		t.Errorf("tokens asked %q (%d calls), want %q", asked, c.Calls()[ratelimit.OpCreateThing], want)
	}
	refusal := &smithy.GenericAPIError{Code: "InvalidRequestException", Message: "m"}
	err = c.Pages(t.Context(), ratelimit.OpCreateThing, func(context.Context, *string) (*string, error) { return nil, refusal })
	if !errors.Is(err, refusal) || !strings.HasPrefix(err.Error(), ratelimit.OpCreateThing+": ") {
		t.Errorf("Pages = %v, want the refusal prefixed with the op", err)
	}
}
