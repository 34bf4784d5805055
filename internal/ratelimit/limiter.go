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
// clock.
const (
	// DecreaseFactor multiplies the current rate on a throttle.
	DecreaseFactor = 0.7
	// ThrottleWindow is the shortest time between two decreases: throttles
	// that arrive within it of the last decrease were most likely caused by
	// calls made before that decrease took effect, so they count once.
	ThrottleWindow = time.Second
	// RecoveryPerSecond is the share of the ceiling that the rate regains
	// per second without a throttle.
	RecoveryPerSecond = 0.05
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

// WithMargin runs every limiter at fraction f of its quota (0 < f <= 1),
// e.g. 0.98 to leave room for clock skew and network jitter between this
// process and AWS's own bucket. The default is 1: exactly the quota.
func WithMargin(f float64) Option { return func(c *config) { c.margin = f } }

// WithBurst sets the burst at the ceiling rate to n calls instead of the
// default, the whole-number part of the ceiling (at least 1). In a Set every
// operation gets this burst. The burst shrinks in proportion when the rate
// is cut.
func WithBurst(n int) Option { return func(c *config) { c.burst = n } }

// WithClock replaces time.Now for the adaptive part (throttle window and
// recovery), so tests can move time without sleeping. The token bucket
// itself always runs on real time, since Wait must really sleep.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Limiter paces one operation. It is safe for concurrent use.
//
// Wait blocks until a call may be made. After each call the caller reports
// the outcome: Throttled when AWS answered ThrottlingException, Succeeded
// when it answered without one. Other errors need no report.
type Limiter struct {
	name    string
	ceiling float64
	floor   float64
	burst   int // burst at the ceiling rate
	now     func() time.Time
	tb      *rate.Limiter

	below atomic.Bool // cur < ceiling: Succeeded has something to recover

	mu           sync.Mutex
	cur          float64
	lastDecrease time.Time // zero until the first decrease
	recoverFrom  time.Time // start of the throttle-free time not yet credited

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
		name:        name,
		ceiling:     ceiling,
		floor:       floor,
		burst:       burst,
		now:         c.now,
		tb:          rate.NewLimiter(rate.Limit(ceiling), burst),
		cur:         ceiling,
		recoverFrom: now,
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

// Throttled records that AWS throttled a call. The first throttle after
// ThrottleWindow without a decrease cuts the rate to DecreaseFactor of its
// current value (not below the floor); later ones within the window are
// only counted. Every throttle restarts the recovery clock.
func (l *Limiter) Throttled() {
	l.throttles.Add(1)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recoverFrom = now
	if !l.lastDecrease.IsZero() && now.Sub(l.lastDecrease) < ThrottleWindow {
		return
	}
	l.lastDecrease = now
	next := max(l.cur*DecreaseFactor, l.floor)
	if next < l.cur {
		l.decreases.Add(1)
		l.setLocked(next)
	}
}

// Succeeded records a call that AWS did not throttle. The rate regains
// RecoveryPerSecond of the ceiling for each second since the last throttle
// (or the last credit), up to the ceiling. The credit depends on elapsed
// time, not on the number of calls, so recovery takes as long at 1 call per
// second as at 100.
func (l *Limiter) Succeeded() {
	l.successes.Add(1)
	if !l.below.Load() {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	elapsed := now.Sub(l.recoverFrom)
	if elapsed <= 0 || l.cur >= l.ceiling {
		return
	}
	l.recoverFrom = now
	l.setLocked(min(l.cur+RecoveryPerSecond*l.ceiling*elapsed.Seconds(), l.ceiling))
}

// setLocked moves the bucket to rate r; l.mu must be held.
func (l *Limiter) setLocked(r float64) {
	l.cur = r
	l.below.Store(r < l.ceiling)
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
	Decreases uint64        // rate cuts: at most one per ThrottleWindow
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
