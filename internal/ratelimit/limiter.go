package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Tuning of the adaptive rate. They are constants rather than options: the
// importer has no reason to vary them, and tests drive them with a fake
// clock. The Limiter doc comment gives the rule they feed and why these
// values.
const (
	// Window is the shortest span over which outcomes are counted before
	// the rate is adjusted. A window ends at the first Throttled or
	// Succeeded call at least Window after it began, so it may be longer
	// when calls are sparse; the increase terms are per second of window,
	// the decrease is per window.
	Window = time.Second
	// Tolerance is the throttled fraction the rate settles at: above it
	// the rate falls, below it the rate rises. Throttling that does not
	// depend on the rate (other tools sharing the quota, a bad moment at
	// AWS) costs only its retries while it stays below Tolerance, and a
	// real quota q below the ceiling holds the rate near q/(1-Tolerance),
	// 12% above q. It has to sit between the two: above 10% so that 10% of
	// random throttling does not wear the rate down, below 13% so that a
	// quota is tracked within 15%; 11% leaves room for the noise of
	// counting ten calls a window.
	Tolerance = 0.11
	// Gain scales the multiplicative step: each window the rate is
	// multiplied by 1 + Gain*(Tolerance*seconds - f), f the smoothed
	// throttled fraction. Larger converges faster on a quota but lets the
	// noise of random throttling pull the rate further from the ceiling.
	Gain = 0.25
	// Smoothing is the weight of the previous windows' counts in the
	// fraction: each window's successes and throttles count in full in
	// its own window, half in the next, a quarter in the one after. That
	// is about three windows' worth of calls, which cuts the noise of
	// small windows by √3; without it a quota is tracked with a sawtooth
	// (see BENCHMARKS.md).
	Smoothing = 0.5
	// Probe is the share of the ceiling per second, per second of
	// throttle-free time before the window, that the rate gains on top of
	// the multiplicative step in a window without a throttle: recovery
	// accelerates the longer AWS keeps accepting every call, while the
	// first clean window after a throttle, common when tracking a quota,
	// gains nothing extra.
	Probe = 0.025
	// StormHeadroom bounds the rate after a window in which at least
	// StormMin calls were throttled: it is at most 1+StormHeadroom times
	// the rate at which calls got through in that window. It bites only
	// when more than a third of the calls were throttled, rare with 10%
	// random throttling, so it cuts storms without adding to the noise.
	StormHeadroom = 0.5
	StormMin      = 2
	// MinFraction and MinRate set the floor of the rate: the larger of
	// MinFraction of the ceiling and MinRate requests per second (but never
	// above the ceiling).
	MinFraction = 0.05
	MinRate     = 0.5
)

// ErrInvalid reports a rate, quota or option that cannot be used.
var ErrInvalid = errors.New("invalid rate limit")

// Option adjusts a Limiter (or every Limiter of a Set).
type Option func(*config)

type config struct {
	margin float64
	burst  int
	now    func() time.Time
}

func newConfig(opts []Option) (config, error) {
	c := config{margin: 1, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if !(c.margin > 0 && c.margin <= 1) {
		return c, fmt.Errorf("safety margin %v not in (0, 1]: %w", c.margin, ErrInvalid)
	}
	if c.burst < 0 {
		return c, fmt.Errorf("burst %d is negative: %w", c.burst, ErrInvalid)
	}
	if c.now == nil {
		return c, fmt.Errorf("nil clock: %w", ErrInvalid)
	}
	return c, nil
}

// DefaultMargin is the fraction of each quota thingpress paces itself at,
// the CLI and the importer function alike: 1% under it, since calls that
// leave evenly spaced can arrive bunched, and AWS's bucket would throttle
// the one that comes early.
const DefaultMargin = 0.99

// WithMargin runs every limiter at fraction f of its quota (0 < f <= 1),
// e.g. 0.98 to leave room for clock skew and network jitter between this
// process and AWS's own bucket. The default is 1: exactly the quota.
func WithMargin(f float64) Option { return func(c *config) { c.margin = f } }

// WithBurst sets the burst at the ceiling rate to n calls instead of the
// default, the whole-number part of the ceiling (at least 1). In a Set every
// operation gets this burst. The burst shrinks in proportion when the rate
// is cut.
func WithBurst(n int) Option { return func(c *config) { c.burst = n } }

// WithClock replaces time.Now for the adaptive part (windows and the time
// the increase is credited for), so tests can move time without sleeping.
// The token bucket itself always runs on real time, since Wait must really
// sleep.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Limiter paces one operation. It is safe for concurrent use.
//
// Wait blocks until a call may be made. After each call the caller reports
// the outcome: Throttled when AWS answered ThrottlingException, Succeeded
// when it answered without one. Other errors need no report.
//
// The rate starts at the ceiling and adapts to the fraction of calls that
// AWS throttles rather than to the mere presence of a throttle. Outcomes are
// counted per window (see Window); at the end of a window of t seconds with
// s successes and h throttles, the rate r becomes
//
//	f = H/(S+H)  where S = s + Smoothing·S′ and H = h + Smoothing·H′,
//	             S′ and H′ the previous window's S and H
//	r ← r·(1 + Gain·(Tolerance·t − f))
//	r ← r + Probe·ceiling·c·t                 if h = 0, c the throttle-free
//	                                          seconds before the window
//	r ← min(r, (1+StormHeadroom)·r₀·s/(s+h))  if h ≥ StormMin, r₀ the rate
//	                                          before this update
//
// then clamped to [floor, ceiling]. With the constants as set:
//
//   - Throttling that does not depend on the rate: the fraction stays
//     where it is whatever the rate, so below Tolerance the rate drifts up
//     to the ceiling and stays there but for noise.
//   - A quota q below the ceiling: sending at r it throttles 1 − q/r of
//     the calls, which is Tolerance at r = q/(1−Tolerance) ≈ 1.12q; above
//     that the rate falls and below it rises. Near it each window removes
//     Gain·(1−Tolerance) ≈ 22% of the distance, and a first window with
//     more than a third throttled meets the storm bound.
//   - A storm: 90% throttled cuts the rate to (1+StormHeadroom)·10% of
//     what it was within one window.
//   - Recovery: without throttles the rate grows by Gain·Tolerance ≈ 2.75%
//     a second, plus a probe that grows with the throttle-free time.
//   - A single throttle in a window of its own, the common case for a
//     rarely called operation, costs at most Gain·(1−Tolerance) ≈ 22% of
//     the rate: StormMin keeps one call from looking like a storm.
//
// The fraction alone cannot tell rate-independent throttling above
// Tolerance from a quota, and a quota so low that a window holds only a
// few calls is tracked further above it. BENCHMARKS.md ("Rate limiter")
// has the simulated figures for each case.
type Limiter struct {
	name    string
	ceiling float64
	floor   float64
	burst   int // burst at the ceiling rate
	now     func() time.Time
	tb      *rate.Limiter

	mu         sync.Mutex
	cur        float64
	winStart   time.Time // start of the current window
	winS, winH uint64    // outcomes counted in the current window
	prevS      float64   // smoothed successes as of the last window's end
	prevH      float64   // smoothed throttles as of the last window's end
	cleanSince time.Time // end of the last window with a throttle

	waits     atomic.Uint64
	waited    atomic.Int64
	successes atomic.Uint64
	throttles atomic.Uint64
	decreases atomic.Uint64
	cancelled atomic.Uint64
}

// New returns a Limiter whose ceiling is quota requests per second (times
// the safety margin, see WithMargin). It starts at the ceiling with a full
// bucket.
func New(quota float64, opts ...Option) (*Limiter, error) {
	return newLimiter("", quota, opts)
}

func newLimiter(name string, quota float64, opts []Option) (*Limiter, error) {
	if !(quota > 0) || math.IsInf(quota, 1) {
		return nil, fmt.Errorf("quota %v for %q is not a positive finite rate: %w", quota, name, ErrInvalid)
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	ceiling := quota * c.margin
	burst := c.burst
	if burst == 0 {
		burst = max(1, int(math.Floor(ceiling)))
	}
	floor := min(max(MinFraction*ceiling, MinRate), ceiling)
	now := c.now()
	l := &Limiter{
		name:       name,
		ceiling:    ceiling,
		floor:      floor,
		burst:      burst,
		now:        c.now,
		tb:         rate.NewLimiter(rate.Limit(ceiling), burst),
		cur:        ceiling,
		winStart:   now,
		cleanSince: now,
	}
	return l, nil
}

// Wait blocks until the next call may be made or ctx is done. Its error
// wraps ctx's error, or context.DeadlineExceeded when ctx's deadline comes
// before the call's turn (Wait then returns at once instead of sleeping).
func (l *Limiter) Wait(ctx context.Context) error {
	start := time.Now()
	err := l.tb.Wait(ctx)
	l.waited.Add(int64(time.Since(start)))
	if err == nil {
		l.waits.Add(1)
		return nil
	}
	l.cancelled.Add(1)
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("wait for %s: %w", l.label(), cerr)
	}
	if _, ok := ctx.Deadline(); ok {
		return fmt.Errorf("wait for %s: turn comes after the deadline: %w", l.label(), context.DeadlineExceeded)
	}
	return fmt.Errorf("wait for %s: %w", l.label(), err)
}

func (l *Limiter) label() string {
	if l.name == "" {
		return "rate limit"
	}
	return l.name
}

// Throttled records that AWS throttled a call. It counts towards the
// current window's throttled fraction, after closing the previous window
// if that one is over.
func (l *Limiter) Throttled() {
	l.throttles.Add(1)
	l.report(false)
}

// Succeeded records a call that AWS did not throttle. It counts towards the
// current window's throttled fraction, after closing the previous window
// if that one is over.
func (l *Limiter) Succeeded() {
	l.successes.Add(1)
	l.report(true)
}

func (l *Limiter) report(ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.winStart) >= Window {
		l.closeWindowLocked(now)
	}
	if ok {
		l.winS++
	} else {
		l.winH++
	}
}

// closeWindowLocked applies the rule of the Limiter doc comment to the
// window ending at now and starts the next one; l.mu must be held.
func (l *Limiter) closeWindowLocked(now time.Time) {
	secs := now.Sub(l.winStart).Seconds()
	s, h := float64(l.winS), float64(l.winH)
	S, H := s+Smoothing*l.prevS, h+Smoothing*l.prevH
	f := 0.0
	if S+H > 0 {
		f = H / (S + H)
	}
	r := l.cur
	next := r * (1 + Gain*(Tolerance*secs-f))
	if h == 0 {
		next += Probe * l.ceiling * l.winStart.Sub(l.cleanSince).Seconds() * secs
	} else {
		l.cleanSince = now
	}
	if h >= StormMin {
		next = min(next, (1+StormHeadroom)*r*s/(s+h))
	}
	next = min(max(next, l.floor), l.ceiling)
	l.winStart, l.winS, l.winH = now, 0, 0
	l.prevS, l.prevH = S, H
	if next < r {
		l.decreases.Add(1)
	}
	if next != r {
		l.setLocked(next)
	}
}

// setLocked moves the bucket to rate r; l.mu must be held.
func (l *Limiter) setLocked(r float64) {
	l.cur = r
	l.tb.SetLimit(rate.Limit(r))
	b := max(1, int(math.Floor(float64(l.burst)*r/l.ceiling)))
	if r >= l.ceiling {
		b = l.burst
	}
	if b != l.tb.Burst() {
		l.tb.SetBurst(b)
	}
}

// Rate returns the current rate in requests per second.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Burst returns the current burst: the configured one at the ceiling,
// shrunk in proportion to the rate below it.
func (l *Limiter) Burst() int { return l.tb.Burst() }

// Ceiling returns the highest rate: the quota times the safety margin.
func (l *Limiter) Ceiling() float64 { return l.ceiling }

// Stats is a snapshot of a Limiter's counters.
type Stats struct {
	Waits     uint64        // Wait calls that let a call through
	Cancelled uint64        // Wait calls that gave up (ctx done or deadline)
	Waited    time.Duration // total time spent in Wait
	Successes uint64        // Succeeded calls
	Throttles uint64        // Throttled calls
	Decreases uint64        // windows that lowered the rate
	Rate      float64       // current rate, requests per second
	Ceiling   float64       // highest rate
}

// Stats returns the counters so far.
func (l *Limiter) Stats() Stats {
	return Stats{
		Waits:     l.waits.Load(),
		Cancelled: l.cancelled.Load(),
		Waited:    time.Duration(l.waited.Load()),
		Successes: l.successes.Load(),
		Throttles: l.throttles.Load(),
		Decreases: l.decreases.Load(),
		Rate:      l.Rate(),
		Ceiling:   l.ceiling,
	}
}
