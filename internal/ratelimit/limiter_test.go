package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
		name    string
		quota   float64
		opts    []ratelimit.Option
		storm   bool // a window with 2 successes and 4 throttles before the run
		workers int
		calls   int
		want    time.Duration // (calls - burst) / rate
	}{
		{name: "20 rps, one caller", quota: 20, workers: 1, calls: 30, want: 500 * time.Millisecond},
		{name: "100 rps, eight callers", quota: 100, workers: 8, calls: 150, want: 500 * time.Millisecond},
		{name: "burst 1", quota: 50, opts: []ratelimit.Option{ratelimit.WithBurst(1)}, workers: 4, calls: 26, want: 500 * time.Millisecond},
		{name: "margin 0.5", quota: 80, opts: []ratelimit.Option{ratelimit.WithMargin(0.5)}, workers: 4, calls: 60, want: 500 * time.Millisecond},
		{name: "after a storm window: 50 rps, burst 50", quota: 100, storm: true, workers: 4, calls: 75, want: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			l := newLimiter(t, tt.quota, slices.Concat(tt.opts, []ratelimit.Option{ratelimit.WithClock(clk.Now)})...)
			if tt.storm {
				report(l, 2, 4)
				clk.Advance(ratelimit.Window)
				l.Succeeded() // closes the window: 1.5·100·2/6
				if got := l.Rate(); !approx(got, 50) {
					t.Fatalf("Rate() after the storm window = %v, want 50", got)
				}
			}
			ctx := t.Context()
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
			ctx := t.Context()
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

// report makes successes Succeeded calls, then throttles Throttled ones.
func report(l *ratelimit.Limiter, successes, throttles int) {
	for range successes {
		l.Succeeded()
	}
	for range throttles {
		l.Throttled()
	}
}

func TestWindowUpdate(t *testing.T) {
	t.Parallel()
	// Each step moves the clock, then reports its outcomes; the first
	// report at least a Window after the current window began closes it
	// (and counts in the next one). Expected rates follow the rule of the
	// Limiter doc comment.
	type step struct {
		after     time.Duration // clock advance before the reports
		successes int
		throttles int
		wantRate  float64
	}
	tests := []struct {
		name          string
		quota         float64
		steps         []step
		wantDecreases uint64
		wantBurst     int
	}{
		{
			name:  "nothing changes before the window ends",
			quota: 100,
			steps: []step{
				{throttles: 50, wantRate: 100},
				{after: 900 * time.Millisecond, throttles: 50, wantRate: 100},
			},
			wantDecreases: 0, wantBurst: 100,
		},
		{
			name:  "10% throttled at the ceiling stays there",
			quota: 100,
			steps: []step{
				{successes: 90, throttles: 10, wantRate: 100},
				{after: time.Second, successes: 1, wantRate: 100}, // 100·(1+0.25·(0.11−0.1)), capped
			},
			wantDecreases: 0, wantBurst: 100,
		},
		{
			name:  "a lone throttle costs a quarter of its fraction",
			quota: 100,
			steps: []step{
				{throttles: 1, wantRate: 100},
				{after: time.Second, successes: 1, wantRate: 77.75}, // 100·(1+0.25·(0.11−1)), below StormMin
			},
			wantDecreases: 1, wantBurst: 77,
		},
		{
			name:  "storm bound: 90% throttled cuts to 1.5 times what got through",
			quota: 100,
			steps: []step{
				{successes: 10, throttles: 90, wantRate: 100},
				{after: time.Second, successes: 1, wantRate: 15},
			},
			wantDecreases: 1, wantBurst: 15,
		},
		{
			name:  "a storm's counts weigh half in the next window, a quarter in the one after",
			quota: 100,
			steps: []step{
				{successes: 10, throttles: 90, wantRate: 100},
				{after: time.Second, successes: 14, throttles: 1, wantRate: 15},
				// f = (1+45)/(15+50): 15·(1+0.25·(0.11−46/65))
				{after: time.Second, successes: 13, wantRate: 12.758654},
				// clean, f = 23/45.5; no probe: no clean time before it
				{after: time.Second, successes: 14, wantRate: 11.497159},
				// clean after 1 s of clean time: probe 0.025·100·1·1
				{after: time.Second, successes: 15, wantRate: 13.413894},
			},
			wantDecreases: 3, wantBurst: 13,
		},
		{
			name:  "floor is 0.5 rps for small quotas",
			quota: 10,
			steps: []step{
				{throttles: 10, wantRate: 10},
				{after: time.Second, throttles: 10, wantRate: 0.5},
				{after: time.Second, throttles: 1, wantRate: 0.5},
			},
			wantDecreases: 1, wantBurst: 1,
		},
		{
			name:  "floor is 5% for large quotas",
			quota: 100,
			steps: []step{
				{throttles: 10, wantRate: 100},
				{after: time.Second, throttles: 1, wantRate: 5},
			},
			wantDecreases: 1, wantBurst: 5,
		},
		{
			name:  "floor never exceeds a tiny ceiling",
			quota: 0.2,
			steps: []step{
				{throttles: 2, wantRate: 0.2},
				{after: time.Second, throttles: 1, wantRate: 0.2},
			},
			wantDecreases: 0, wantBurst: 1,
		},
		{
			name:  "clock going backwards closes nothing",
			quota: 100,
			steps: []step{
				{throttles: 10, wantRate: 100},
				{after: -time.Second, successes: 1, wantRate: 100},
			},
			wantDecreases: 0, wantBurst: 100,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			l := newLimiter(t, tt.quota, ratelimit.WithClock(clk.Now))
			var successes, throttles uint64
			for i, s := range tt.steps {
				clk.Advance(s.after)
				report(l, s.successes, s.throttles)
				successes += uint64(s.successes)
				throttles += uint64(s.throttles)
				if got := l.Rate(); math.Abs(got-s.wantRate) > 1e-6 {
					t.Fatalf("step %d: Rate() = %v, want %v", i+1, got, s.wantRate)
				}
			}
			st := l.Stats()
			if st.Successes != successes || st.Throttles != throttles || st.Decreases != tt.wantDecreases {
				t.Errorf("Stats() successes=%d throttles=%d decreases=%d, want %d, %d and %d",
					st.Successes, st.Throttles, st.Decreases, successes, throttles, tt.wantDecreases)
			}
			if got := l.Burst(); got != tt.wantBurst {
				t.Errorf("Burst() = %d, want %d", got, tt.wantBurst)
			}
		})
	}
}

func TestRecoveryIsTimeBased(t *testing.T) {
	t.Parallel()
	// A storm window takes a 10 rps limiter to its floor at t = 1 s; then
	// only successes come, every interval, until t = 1 s + span.
	tests := []struct {
		name     string
		interval time.Duration // between Succeeded calls
		burst    int           // Succeeded calls at each instant
		span     time.Duration
		wantMin  float64 // rate at the end at least
		wantMax  float64 // and at most
	}{
		{name: "1000 calls per second", interval: time.Millisecond, burst: 1, span: 9 * time.Second, wantMin: 9.5, wantMax: 10},
		{name: "10 calls per second", interval: 100 * time.Millisecond, burst: 1, span: 9 * time.Second, wantMin: 9.5, wantMax: 10},
		{name: "1 call per second", interval: time.Second, burst: 1, span: 9 * time.Second, wantMin: 9.5, wantMax: 10},
		{name: "1000 calls at each second", interval: time.Second, burst: 1000, span: 9 * time.Second, wantMin: 9.5, wantMax: 10},
		{name: "one call every 4 s", interval: 4 * time.Second, burst: 1, span: 12 * time.Second, wantMin: 9.5, wantMax: 10},
		{name: "not there after 5 s", interval: 100 * time.Millisecond, burst: 1, span: 5 * time.Second, wantMin: 2, wantMax: 4},
		{name: "half way after 7 s", interval: 100 * time.Millisecond, burst: 1, span: 7 * time.Second, wantMin: 3.5, wantMax: 6.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			l := newLimiter(t, 10, ratelimit.WithClock(clk.Now))
			report(l, 0, 10)
			clk.Advance(time.Second)
			report(l, 1, 0)
			if got := l.Rate(); got != 0.5 {
				t.Fatalf("Rate() after the storm = %v, want the floor 0.5", got)
			}
			for elapsed := time.Duration(0); elapsed < tt.span; elapsed += tt.interval {
				clk.Advance(tt.interval)
				report(l, tt.burst, 0)
			}
			if got := l.Rate(); got < tt.wantMin || got > tt.wantMax {
				t.Errorf("Rate() %v after the storm = %v, want in [%v, %v]", tt.span, got, tt.wantMin, tt.wantMax)
			}
		})
	}
}

// server stands in for AWS in simulations: a token bucket at quota
// requests per second with a burst of the quota rounded up (no quota if 0),
// as iotproxy enforces it, then a rate-independent throttle with
// probability throttle(elapsed).
type server struct {
	quota    float64
	throttle func(elapsed time.Duration) float64
	rng      *rand.Rand

	started bool
	tokens  float64
	last    time.Duration
}

func (s *server) call(elapsed time.Duration) bool {
	if s.quota > 0 {
		burst := math.Ceil(s.quota)
		if !s.started {
			s.started, s.tokens = true, burst
		}
		s.tokens = min(burst, s.tokens+(elapsed-s.last).Seconds()*s.quota)
		s.last = elapsed
		if s.tokens < 1 {
			return false
		}
		s.tokens--
	}
	return s.throttle == nil || s.rng.Float64() >= s.throttle(elapsed)
}

// sample is the rate just after an outcome was reported.
type sample struct {
	at   time.Duration
	rate float64
}

// simulate offers calls to srv at exactly the limiter's rate for dur, each
// answered latency later, and returns the rate after every answer.
func simulate(t *testing.T, ceiling float64, srv *server, latency, dur time.Duration) []sample {
	t.Helper()
	clk := newFakeClock()
	l := newLimiter(t, ceiling, ratelimit.WithClock(clk.Now))
	type answer struct {
		at time.Duration
		ok bool
	}
	var (
		pending  []answer
		samples  []sample
		now      time.Duration
		nextCall time.Duration
	)
	for now < dur {
		if len(pending) > 0 && pending[0].at <= nextCall {
			a := pending[0]
			pending = pending[1:]
			clk.Advance(a.at - now)
			now = a.at
			if a.ok {
				l.Succeeded()
			} else {
				l.Throttled()
			}
			samples = append(samples, sample{now, l.Rate()})
			continue
		}
		clk.Advance(nextCall - now)
		now = nextCall
		pending = append(pending, answer{now + latency, srv.call(now)})
		nextCall = now + time.Duration(float64(time.Second)/l.Rate())
	}
	return samples
}

// between returns the mean, least and greatest rate sampled in [from, to).
func between(samples []sample, from, to time.Duration) (mean, lo, hi float64) {
	lo, n := math.Inf(1), 0
	for _, s := range samples {
		if s.at >= from && s.at < to {
			mean += s.rate
			lo, hi = min(lo, s.rate), max(hi, s.rate)
			n++
		}
	}
	return mean / float64(n), lo, hi
}

func constant(p float64) func(time.Duration) float64 {
	return func(time.Duration) float64 { return p }
}

// stormFor throttles 90% of calls for d, then none.
func stormFor(d time.Duration) func(time.Duration) float64 {
	return func(el time.Duration) float64 {
		if el < d {
			return 0.9
		}
		return 0
	}
}

func TestAdaptiveRateConverges(t *testing.T) {
	t.Parallel()
	const latency = 100 * time.Millisecond // as in BenchmarkImportDefaultQuotas
	tests := []struct {
		name     string
		ceiling  float64
		quota    float64 // 0: none
		throttle func(time.Duration) float64
		seeds    int
		dur      time.Duration
		check    func(t *testing.T, samples []sample)
	}{
		{
			name: "10% random throttling keeps the rate at 80% of the ceiling or more", ceiling: 10,
			throttle: constant(0.10), seeds: 10, dur: 300 * time.Second,
			check: func(t *testing.T, s []sample) {
				if mean, _, _ := between(s, 30*time.Second, 300*time.Second); mean < 8 {
					t.Errorf("mean rate from 30 s on = %.2f, want >= 8", mean)
				}
			},
		},
		{
			name: "10% random throttling at a 100 TPS ceiling", ceiling: 100,
			throttle: constant(0.10), seeds: 3, dur: 120 * time.Second,
			check: func(t *testing.T, s []sample) {
				if mean, _, _ := between(s, 30*time.Second, 120*time.Second); mean < 95 {
					t.Errorf("mean rate from 30 s on = %.2f, want >= 95", mean)
				}
			},
		},
		{
			name: "quota 5 under ceiling 10 settles in [5, 5.75]", ceiling: 10, quota: 5, seeds: 1, dur: 120 * time.Second,
			check: func(t *testing.T, s []sample) {
				if _, lo, hi := between(s, 5*time.Second, 120*time.Second); lo < 5 || hi > 5.75 {
					t.Errorf("rate from 5 s on in [%.3f, %.3f], want within [5, 5.75]", lo, hi)
				}
			},
		},
		{
			name: "quota 10 under ceiling 15 settles in [10, 11.5]", ceiling: 15, quota: 10, seeds: 1, dur: 120 * time.Second,
			check: func(t *testing.T, s []sample) {
				if _, lo, hi := between(s, 15*time.Second, 120*time.Second); lo < 10 || hi > 11.5 {
					t.Errorf("rate from 15 s on in [%.3f, %.3f], want within [10, 11.5]", lo, hi)
				}
			},
		},
		{
			name: "quota 50 under ceiling 100 settles in [50, 57.5]", ceiling: 100, quota: 50, seeds: 1, dur: 120 * time.Second,
			check: func(t *testing.T, s []sample) {
				if _, lo, hi := between(s, 15*time.Second, 120*time.Second); lo < 50 || hi > 57.5 {
					t.Errorf("rate from 15 s on in [%.3f, %.3f], want within [50, 57.5]", lo, hi)
				}
			},
		},
		{
			name: "a 90% storm halves the rate within two windows", ceiling: 10,
			throttle: stormFor(time.Minute), seeds: 3, dur: 10 * time.Second,
			check: func(t *testing.T, s []sample) {
				if _, _, hi := between(s, 2100*time.Millisecond, 10*time.Second); hi > 5 {
					t.Errorf("rate after 2.1 s up to %.2f, want <= 5", hi)
				}
				if _, _, hi := between(s, 5*time.Second, 10*time.Second); hi > 1 {
					t.Errorf("rate after 5 s up to %.2f, want <= 1", hi)
				}
			},
		},
		{
			name: "after a storm the rate is back at 95% of the ceiling within 15 s", ceiling: 10,
			throttle: stormFor(20 * time.Second), seeds: 3, dur: 60 * time.Second,
			check: func(t *testing.T, s []sample) {
				if _, _, hi := between(s, 10*time.Second, 20*time.Second); hi > 1 {
					t.Errorf("rate during the storm up to %.2f, want <= 1", hi)
				}
				if _, lo, _ := between(s, 35*time.Second, 60*time.Second); lo < 9.5 {
					t.Errorf("rate from 15 s after the storm on down to %.2f, want >= 9.5", lo)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(tt.seeds) {
				srv := &server{quota: tt.quota, throttle: tt.throttle, rng: rand.New(rand.NewPCG(seed, 1))}
				samples := simulate(t, tt.ceiling, srv, latency, tt.dur)
				t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) { tt.check(t, samples) })
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
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled,
			within:  time.Second,
		},
		{
			name: "already cancelled",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
			within:  100 * time.Millisecond,
		},
		{
			name: "deadline before the turn fails at once",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(t.Context(), time.Second)
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
			if err := l.Wait(t.Context()); err != nil {
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
	ctx := t.Context()
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
	ctx := t.Context()
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
	ctx := b.Context()
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
	ctx := b.Context()
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
