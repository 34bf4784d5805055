package awsiot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/thingpress/thingpress/internal/ratelimit"
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
			n := 0
			maybeDone, err := c.Try(t.Context(), t.Context(), ratelimit.OpCreateThing, func(context.Context) error {
				a := tt.answers[min(n, len(tt.answers)-1)]
				n++
				return a
			})
			if got := c.Calls()[ratelimit.OpCreateThing]; got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if maybeDone != tt.wantMaybeDone {
				t.Errorf("maybeDone = %v, want %v", maybeDone, tt.wantMaybeDone)
			}
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			case tt.wantCode != "" && Code(err) != tt.wantCode:
				t.Errorf("err = %v, want code %s", err, tt.wantCode)
			case tt.wantErr == nil && tt.wantCode == "" && err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
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
