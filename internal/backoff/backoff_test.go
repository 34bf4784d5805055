package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/backoff"
)

func TestCap(t *testing.T) {
	tests := []struct {
		name        string
		base, limit time.Duration
		attempt     int
		want        time.Duration
	}{
		{name: "first attempt is base", base: 100 * time.Millisecond, limit: 10 * time.Second, attempt: 0, want: 100 * time.Millisecond},
		{name: "doubles", base: 100 * time.Millisecond, limit: 10 * time.Second, attempt: 3, want: 800 * time.Millisecond},
		{name: "capped", base: 100 * time.Millisecond, limit: 10 * time.Second, attempt: 7, want: 10 * time.Second},
		{name: "huge attempt stays capped", base: 30 * time.Second, limit: 15 * time.Minute, attempt: 1000, want: 15 * time.Minute},
		{name: "negative attempt is the first", base: time.Second, limit: time.Minute, attempt: -4, want: time.Second},
		{name: "no limit does not overflow", base: time.Hour, attempt: 200, want: 1 << 21 * time.Hour},
		{name: "base over the limit", base: time.Minute, limit: time.Second, attempt: 0, want: time.Second},
		{name: "zero base", base: 0, limit: time.Second, attempt: 5, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backoff.Cap(tt.base, tt.limit, tt.attempt); got != tt.want {
				t.Errorf("Cap(%v, %v, %d) = %v, want %v", tt.base, tt.limit, tt.attempt, got, tt.want)
			}
		})
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name    string
		jitter  func(base, limit time.Duration, attempt int) time.Duration
		attempt int
		lo, hi  time.Duration // inclusive bounds
	}{
		{name: "full, first attempt", jitter: backoff.Full, attempt: 0, lo: 1, hi: 100 * time.Millisecond},
		{name: "full, capped", jitter: backoff.Full, attempt: 20, lo: 1, hi: 10 * time.Second},
		{name: "equal, first attempt", jitter: backoff.Equal, attempt: 0, lo: 50 * time.Millisecond, hi: 100 * time.Millisecond},
		{name: "equal, capped", jitter: backoff.Equal, attempt: 20, lo: 5 * time.Second, hi: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 2000 {
				d := tt.jitter(100*time.Millisecond, 10*time.Second, tt.attempt)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("delay %v outside [%v, %v]", d, tt.lo, tt.hi)
				}
				seen[d] = true
			}
			if len(seen) < 100 {
				t.Errorf("%d distinct delays in 2000: no jitter", len(seen))
			}
		})
	}
	for _, f := range []func(base, limit time.Duration, attempt int) time.Duration{backoff.Full, backoff.Equal} {
		if d := f(0, time.Second, 3); d != 0 {
			t.Errorf("zero base: delay %v, want 0", d)
		}
	}
}

func TestSleep(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool
		d      time.Duration
		want   bool
	}{
		{name: "waits", d: time.Millisecond, want: true},
		{name: "zero", d: 0, want: true},
		{name: "cancelled", cancel: true, d: time.Hour, want: false},
		{name: "cancelled, zero", cancel: true, d: 0, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			start := time.Now()
			if got := backoff.Sleep(ctx, tt.d); got != tt.want {
				t.Errorf("Sleep = %v, want %v", got, tt.want)
			}
			if tt.want && time.Since(start) < tt.d {
				t.Errorf("returned after %v, before %v", time.Since(start), tt.d)
			}
		})
	}
}
