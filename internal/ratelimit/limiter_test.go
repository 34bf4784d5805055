package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/ratelimit"
)

// fakeClock is a settable clock for the adaptive part of a Limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(t testing.TB, quota float64, opts ...ratelimit.Option) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(quota, opts...)
	if err != nil {
		t.Fatalf("New(%v): %v", quota, err)
	}
	return l
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestWaitPacesAtRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		quota     float64
		opts      []ratelimit.Option
		throttled bool // one Throttled before the run
		workers   int
		calls     int
		want      time.Duration // (calls - burst) / rate
	}{
		{name: "20 rps, one caller", quota: 20, workers: 1, calls: 30, want: 500 * time.Millisecond},
		{name: "100 rps, eight callers", quota: 100, workers: 8, calls: 150, want: 500 * time.Millisecond},
		{name: "burst 1", quota: 50, opts: []ratelimit.Option{ratelimit.WithBurst(1)}, workers: 4, calls: 26, want: 500 * time.Millisecond},
		{name: "margin 0.5", quota: 80, opts: []ratelimit.Option{ratelimit.WithMargin(0.5)}, workers: 4, calls: 60, want: 500 * time.Millisecond},
		{name: "after a throttle", quota: 100, throttled: true, workers: 4, calls: 105, want: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, tt.quota, tt.opts...)
			if tt.throttled {
				l.Throttled()
			}
			ctx := context.Background()
			work := make(chan struct{}, tt.calls)
			for range tt.calls {
				work <- struct{}{}
			}
			close(work)
			start := time.Now()
			var wg sync.WaitGroup
			for range tt.workers {
				wg.Go(func() {
					for range work {
						if err := l.Wait(ctx); err != nil {
							t.Errorf("Wait: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			got := time.Since(start)
			// Never faster than the bucket allows; slower only by
			// scheduling noise, so the upper bound is generous.
			if got < tt.want-20*time.Millisecond || got > tt.want+700*time.Millisecond {
				t.Errorf("%d calls took %v, want about %v", tt.calls, got, tt.want)
			}
			if s := l.Stats(); s.Waits != uint64(tt.calls) {
				t.Errorf("Stats().Waits = %d, want %d", s.Waits, tt.calls)
			}
		})
	}
}

func TestBurstAfterIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		quota     float64
		opts      []ratelimit.Option
		wantBurst int
	}{
		{name: "10 rps", quota: 10, wantBurst: 10},
		{name: "fractional rate", quota: 7.9, wantBurst: 7},
		{name: "below 1 rps", quota: 0.5, wantBurst: 1},
		{name: "margin 0.98 of 10", quota: 10, opts: []ratelimit.Option{ratelimit.WithMargin(0.98)}, wantBurst: 9},
		{name: "explicit burst", quota: 10, opts: []ratelimit.Option{ratelimit.WithBurst(3)}, wantBurst: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, tt.quota, tt.opts...)
			if got := l.Burst(); got != tt.wantBurst {
				t.Fatalf("Burst() = %d, want %d", got, tt.wantBurst)
			}
			ctx := context.Background()
			start := time.Now()
			for range tt.wantBurst {
				if err := l.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Errorf("the first %d calls took %v, want no wait", tt.wantBurst, d)
			}
			// The next call must wait for a token: ask with a deadline
			// shorter than a token's interval and expect a refusal.
			short, cancel := context.WithTimeout(ctx, time.Duration(0.5*float64(time.Second)/l.Ceiling()))
			defer cancel()
			if err := l.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call %d after idle: Wait = %v, want DeadlineExceeded", tt.wantBurst+1, err)
			}
		})
	}
}

func TestThrottledDecreasesOncePerWindow(t *testing.T) {
	t.Parallel()
	type step struct {
		after    time.Duration // clock advance before Throttled
		wantRate float64
	}
	tests := []struct {
		name          string
		quota         float64
		steps         []step
		wantDecreases uint64
		wantBurst     int
	}{
		{
			name:          "one decrease",
			quota:         10,
			steps:         []step{{0, 7}},
			wantDecreases: 1, wantBurst: 7,
		},
		{
			name:          "volley within the window counts once",
			quota:         10,
			steps:         []step{{0, 7}, {0, 7}, {300 * time.Millisecond, 7}, {600 * time.Millisecond, 7}},
			wantDecreases: 1, wantBurst: 7,
		},
		{
			name:          "next window decreases again",
			quota:         100,
			steps:         []step{{0, 70}, {500 * time.Millisecond, 70}, {500 * time.Millisecond, 49}},
			wantDecreases: 2, wantBurst: 49,
		},
		{
			name:          "floor is 0.5 rps for small quotas",
			quota:         10,
			steps:         []step{{0, 7}, {time.Second, 4.9}, {time.Second, 3.43}, {time.Second, 2.401}, {time.Second, 1.6807}, {time.Second, 1.17649}, {time.Second, 0.823543}, {time.Second, 0.5764801}, {time.Second, 0.5}, {time.Second, 0.5}},
			wantDecreases: 9, wantBurst: 1,
		},
		{
			name:          "floor is 5% for large quotas",
			quota:         100,
			steps:         []step{{0, 70}, {time.Second, 49}, {time.Second, 34.3}, {time.Second, 24.01}, {time.Second, 16.807}, {time.Second, 11.7649}, {time.Second, 8.23543}, {time.Second, 5.764801}, {time.Second, 5}},
			wantDecreases: 9, wantBurst: 5,
		},
		{
			name:          "floor never exceeds a tiny ceiling",
			quota:         0.2,
			steps:         []step{{0, 0.2}},
			wantDecreases: 0, wantBurst: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			l := newLimiter(t, tt.quota, ratelimit.WithClock(clk.Now))
			for i, s := range tt.steps {
				clk.Advance(s.after)
				l.Throttled()
				if got := l.Rate(); !approx(got, s.wantRate) {
					t.Fatalf("after throttle %d: Rate() = %v, want %v", i+1, got, s.wantRate)
				}
			}
			st := l.Stats()
			if st.Throttles != uint64(len(tt.steps)) || st.Decreases != tt.wantDecreases {
				t.Errorf("Stats() throttles=%d decreases=%d, want %d and %d", st.Throttles, st.Decreases, len(tt.steps), tt.wantDecreases)
			}
			if got := l.Burst(); got != tt.wantBurst {
				t.Errorf("Burst() = %d, want %d", got, tt.wantBurst)
			}
		})
	}
}

func TestRecoveryIsTimeBased(t *testing.T) {
	t.Parallel()
	type step struct {
		after     time.Duration
		throttle  bool // Throttled instead of Succeeded
		successes int  // Succeeded calls at this instant (default 1)
		wantRate  float64
	}
	tests := []struct {
		name  string
		quota float64
		steps []step
	}{
		{
			name:  "5% of the ceiling per second",
			quota: 100,
			steps: []step{
				{throttle: true, wantRate: 70},
				{after: time.Second, wantRate: 75},
				{after: 2 * time.Second, wantRate: 85},
				{after: 500 * time.Millisecond, wantRate: 87.5},
			},
		},
		{
			name:  "many calls at one instant count once",
			quota: 100,
			steps: []step{
				{throttle: true, wantRate: 70},
				{after: time.Second, successes: 1000, wantRate: 75},
			},
		},
		{
			name:  "capped at the ceiling",
			quota: 10,
			steps: []step{
				{throttle: true, wantRate: 7},
				{after: time.Hour, wantRate: 10},
				{after: time.Second, wantRate: 10},
			},
		},
		{
			name:  "a throttle restarts the recovery clock",
			quota: 100,
			steps: []step{
				{throttle: true, wantRate: 70},
				{after: 900 * time.Millisecond, throttle: true, wantRate: 70}, // within the window
				{after: 100 * time.Millisecond, wantRate: 70.5},               // 0.1 s since that throttle
			},
		},
		{
			name:  "clock going backwards changes nothing",
			quota: 100,
			steps: []step{
				{throttle: true, wantRate: 70},
				{after: -time.Second, wantRate: 70},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			l := newLimiter(t, tt.quota, ratelimit.WithClock(clk.Now))
			for i, s := range tt.steps {
				clk.Advance(s.after)
				switch {
				case s.throttle:
					l.Throttled()
				default:
					for range max(1, s.successes) {
						l.Succeeded()
					}
				}
				if got := l.Rate(); !approx(got, s.wantRate) {
					t.Fatalf("step %d: Rate() = %v, want %v", i+1, got, s.wantRate)
				}
			}
		})
	}
}

func TestRecoveryIndependentOfCallRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		interval time.Duration // between Succeeded calls
	}{
		{name: "1000 calls per second", interval: time.Millisecond},
		{name: "10 calls per second", interval: 100 * time.Millisecond},
		{name: "1 call per second", interval: time.Second},
		{name: "one call every 4 s", interval: 4 * time.Second},
	}
	const quota, span = 100, 4 * time.Second
	want := 70 + 5*span.Seconds()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			l := newLimiter(t, quota, ratelimit.WithClock(clk.Now))
			l.Throttled()
			for elapsed := time.Duration(0); elapsed < span; elapsed += tt.interval {
				clk.Advance(tt.interval)
				l.Succeeded()
			}
			if got := l.Rate(); math.Abs(got-want) > 1e-6 {
				t.Errorf("Rate() after %v = %v, want %v", span, got, want)
			}
		})
	}
}

func TestWaitUnblocksOnContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
		within  time.Duration
	}{
		{
			name: "cancel",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled,
			within:  time.Second,
		},
		{
			name: "already cancelled",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
			within:  100 * time.Millisecond,
		},
		{
			name: "deadline before the turn fails at once",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Second)
			},
			wantErr: context.DeadlineExceeded,
			within:  100 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// 0.1 rps: after the one token, the next turn is 10 s away.
			l := newLimiter(t, 0.1)
			if err := l.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			err := l.Wait(ctx)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Wait = %v, want %v", err, tt.wantErr)
			}
			if d := time.Since(start); d > tt.within {
				t.Errorf("Wait returned after %v, want within %v", d, tt.within)
			}
			if s := l.Stats(); s.Waits != 1 || s.Cancelled != 1 {
				t.Errorf("Stats() waits=%d cancelled=%d, want 1 and 1", s.Waits, s.Cancelled)
			}
		})
	}
}

func TestCancelledWaitReturnsItsToken(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, 2, ratelimit.WithBurst(1)) // a token every 500 ms
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := l.Wait(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want Canceled", err)
	}
	// The abandoned turn (at 500 ms) is handed back, so the next caller's
	// turn is at 500 ms, not 1 s. Wait decides up front whether a turn
	// fits before the deadline, so this does not depend on timer accuracy.
	dctx, cancel := context.WithTimeout(ctx, 750*time.Millisecond)
	defer cancel()
	if err := l.Wait(dctx); err != nil {
		t.Errorf("Wait after a cancelled one = %v, want its turn within 750ms", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, 2000)
	ctx := context.Background()
	const workers, calls = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				if err := l.Wait(ctx); err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
				if (w+i)%7 == 0 {
					l.Throttled()
				} else {
					l.Succeeded()
				}
				_ = l.Rate()
				_ = l.Stats()
			}
		})
	}
	wg.Wait()
	s := l.Stats()
	if s.Waits != workers*calls || s.Throttles+s.Successes != workers*calls {
		t.Errorf("Stats() = %+v, want %d waits and as many outcomes", s, workers*calls)
	}
	if s.Rate <= 0 || s.Rate > s.Ceiling {
		t.Errorf("Rate %v outside (0, %v]", s.Rate, s.Ceiling)
	}
}

func TestNewRejectsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		quota float64
		opts  []ratelimit.Option
	}{
		{name: "zero quota", quota: 0},
		{name: "negative quota", quota: -1},
		{name: "NaN quota", quota: math.NaN()},
		{name: "infinite quota", quota: math.Inf(1)},
		{name: "zero margin", quota: 10, opts: []ratelimit.Option{ratelimit.WithMargin(0)}},
		{name: "margin above 1", quota: 10, opts: []ratelimit.Option{ratelimit.WithMargin(1.1)}},
		{name: "negative burst", quota: 10, opts: []ratelimit.Option{ratelimit.WithBurst(-1)}},
		{name: "nil clock", quota: 10, opts: []ratelimit.Option{ratelimit.WithClock(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ratelimit.New(tt.quota, tt.opts...); !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("New = %v, want ErrInvalid", err)
			}
		})
	}
}

func BenchmarkWait(b *testing.B) {
	l := newLimiter(b, 1e9) // never blocks: measures the bookkeeping
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		l.Succeeded()
	}
}

func BenchmarkWaitParallel(b *testing.B) {
	l := newLimiter(b, 1e9)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			l.Succeeded()
		}
	})
}
