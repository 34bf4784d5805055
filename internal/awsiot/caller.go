package awsiot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsconf"
	"github.com/thingpress/thingpress/internal/backoff"
	"github.com/thingpress/thingpress/internal/ratelimit"
)

// ErrGaveUp means a call was still throttled or failing transiently when
// its attempts ran out.
var ErrGaveUp = errors.New("gave up retrying")

// ErrInterrupted means ctx ended before a call was sent or while it
// waited to be retried.
var ErrInterrupted = errors.New("interrupted")

// ErrUnreachable means the Caller's breaker tripped: the endpoint stopped
// taking connections (refused, no such host, no answer to connecting) for
// long enough that the run should stop rather than retry every call to
// the end. The errors that wrap it are ErrInterrupted as well, so that a
// run leaves its devices as an interrupted run does, for a later run to
// finish.
var ErrUnreachable = errors.New("endpoint unreachable")

// unreachableError is the error of every call once the breaker tripped:
// ErrUnreachable and ErrInterrupted, with what the last attempt met.
type unreachableError struct{ last string }

func (e *unreachableError) Error() string { return ErrUnreachable.Error() + ": " + e.last }

func (e *unreachableError) Is(target error) bool {
	return target == ErrUnreachable || target == ErrInterrupted
}

// Caller makes IoT calls under per-operation rate limits, retrying
// throttles and transient faults with jittered backoff, and counts them:
// the one retry loop of the IoT calls of import, bind, verify and remove.
// An attempt that never reached the endpoint (NotSent) is retried too,
// but a run of them trips a breaker for the whole Caller: see
// UnreachableAttempts. It is safe for concurrent use; its settings must
// not change once it is in use.
type Caller struct {
	Limits *ratelimit.Set
	// MaxAttempts bounds the attempts of a call that fails transiently,
	// MaxThrottled those of one that is throttled.
	MaxAttempts  int
	MaxThrottled int
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	Logger       *slog.Logger // nil: no retry log
	// The breaker trips when UnreachableAttempts attempts in a row, of
	// any calls, never reached the endpoint, the first of them at least
	// UnreachableFor ago, or when a call's attempts run out on one; an
	// answer of any kind (a success, an error from AWS, a throttle)
	// before that starts the count again. Once tripped, every call fails
	// at once with ErrUnreachable, for the rest of the Caller's life.
	UnreachableAttempts int
	UnreachableFor      time.Duration

	calls              sync.Map // op -> *atomic.Int64
	throttled, retried atomic.Int64

	mu     sync.Mutex // guards streak and since
	streak int        // attempts in a row that never reached the endpoint
	since  time.Time  // when the first of them was made
	once   sync.Once  // makes broken and trip
	broken context.Context
	trip   context.CancelCauseFunc
}

// Caller defaults.
const (
	DefaultMaxAttempts  = 10
	DefaultMaxThrottled = 60
	DefaultBackoffBase  = 100 * time.Millisecond
	DefaultBackoffMax   = 10 * time.Second
	// A few seconds of nothing but refused connections: the network or
	// the endpoint is gone, not one connection lost.
	DefaultUnreachableAttempts = 5
	DefaultUnreachableFor      = 2 * time.Second
)

// NewCaller returns a Caller at the rates of quotas (nil: DefaultQuotas).
func NewCaller(quotas map[string]float64) (*Caller, error) {
	if quotas == nil {
		quotas = ratelimit.DefaultQuotas()
	}
	set, err := ratelimit.NewSet(quotas, ratelimit.WithMargin(ratelimit.DefaultMargin))
	if err != nil {
		return nil, err
	}
	return &Caller{Limits: set}, nil
}

// Do calls fn under op's limit until it succeeds, fails permanently, or
// its attempts run out (an error wrapping ErrGaveUp). It returns an error
// wrapping ErrInterrupted when ctx is done before a call is sent or
// while it waits to retry. Errors are prefixed with op.
func (c *Caller) Do(ctx context.Context, op string, fn func(context.Context) error) error {
	if _, err := c.Try(ctx, ctx, op, fn); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Pages calls page through Do, first with a nil token, then with the
// token each call returned, until one returns none: the paging of the
// IoT list calls.
func (c *Caller) Pages(ctx context.Context, op string, page func(ctx context.Context, next *string) (*string, error)) error {
	var next *string
	for {
		var got *string
		if err := c.Do(ctx, op, func(ctx context.Context) error {
			var err error
			got, err = page(ctx, next)
			return err
		}); err != nil {
			return err
		}
		if got == nil || *got == "" {
			return nil
		}
		next = got
	}
}

// Try is Do for a caller that must tell a lost answer from a refusal:
// ctx governs the waits and callCtx the calls (so that a call once sent
// can be finished after an interrupt), errors are not prefixed, and
// maybeDone reports whether an earlier attempt failed transiently after
// it was sent: such an attempt (a 5xx, a dropped connection) may have
// taken effect without its answer reaching us. An attempt that never
// reached the endpoint (NotSent) cannot have. Once the breaker trips,
// Try returns an error wrapping ErrUnreachable (and ErrInterrupted).
func (c *Caller) Try(ctx, callCtx context.Context, op string, fn func(context.Context) error) (maybeDone bool, err error) {
	lim := c.Limits.Get(op)
	throttled, failed := 0, 0
	maxAttempts := positive(c.MaxAttempts, DefaultMaxAttempts)
	for {
		if err := c.Unreachable(); err != nil {
			return maybeDone, err
		}
		if err := lim.Wait(ctx); err != nil {
			return maybeDone, ErrInterrupted
		}
		c.count(op)
		err := fn(callCtx)
		class := Classify(err)
		if class != Unsent {
			c.answered()
		}
		if err == nil {
			lim.Succeeded()
			return maybeDone, nil
		}
		switch class {
		case Unsent:
			c.retried.Add(1)
			failed++
			if tripped := c.notSent(err, failed >= maxAttempts); tripped != nil {
				return maybeDone, tripped
			}
			c.logRetry(op, failed, err)
		case Throttled:
			lim.Throttled()
			c.throttled.Add(1)
			if throttled++; throttled >= positive(c.MaxThrottled, DefaultMaxThrottled) {
				return maybeDone, fmt.Errorf("%w: still throttled after %d attempts: %w", ErrGaveUp, throttled, err)
			}
		case Transient:
			c.retried.Add(1)
			maybeDone = true
			if failed++; failed >= maxAttempts {
				return true, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, failed, err)
			}
			c.logRetry(op, failed, err)
		default:
			return maybeDone, err
		}
		d := backoff.Full(positive(c.BackoffBase, DefaultBackoffBase), positive(c.BackoffMax, DefaultBackoffMax), throttled+failed)
		if !c.sleep(ctx, d) {
			return maybeDone, ErrInterrupted
		}
	}
}

func (c *Caller) logRetry(op string, attempt int, err error) {
	if c.Logger != nil {
		c.Logger.Debug("retrying", "op", op, "attempt", attempt, "err", Message(err))
	}
}

// breaker is done once the breaker tripped, its cause the
// *unreachableError every call gets from then on.
func (c *Caller) breaker() context.Context {
	c.once.Do(func() { c.broken, c.trip = context.WithCancelCause(context.Background()) })
	return c.broken
}

// Unreachable returns the error every call gets once the breaker tripped
// (it wraps ErrUnreachable and names what the last attempt met), or nil.
func (c *Caller) Unreachable() error { return context.Cause(c.breaker()) }

// notSent counts an attempt that never reached the endpoint and returns
// the breaker's error if it trips now or tripped before; exhausted says
// the attempt was its call's last.
func (c *Caller) notSent(err error, exhausted bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tripped := c.Unreachable(); tripped != nil {
		return tripped
	}
	now := time.Now()
	if c.streak == 0 {
		c.since = now
	}
	c.streak++
	if exhausted || c.streak >= positive(c.UnreachableAttempts, DefaultUnreachableAttempts) &&
		now.Sub(c.since) >= positive(c.UnreachableFor, DefaultUnreachableFor) {
		c.trip(&unreachableError{last: Message(err)})
		if c.Logger != nil {
			c.Logger.Warn("endpoint unreachable: stopping", "attempts", c.streak,
				"seconds", now.Sub(c.since).Seconds(), "err", Message(err))
		}
	}
	return c.Unreachable()
}

// answered starts the breaker's count again: the endpoint answered.
func (c *Caller) answered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streak = 0
}

// sleep waits for d, until ctx is done (false) or until the breaker
// trips.
func (c *Caller) sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.breaker().Done():
	case <-ctx.Done():
		return false
	}
	return true
}

func positive[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (c *Caller) count(op string) {
	v, ok := c.calls.Load(op)
	if !ok {
		v, _ = c.calls.LoadOrStore(op, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// Calls returns the number of calls made per operation, retries included.
func (c *Caller) Calls() map[string]int64 {
	out := map[string]int64{}
	c.calls.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Throttled is the number of calls AWS answered with throttling.
func (c *Caller) Throttled() int64 { return c.throttled.Load() }

// Retried is the number of calls retried after a transient failure.
func (c *Caller) Retried() int64 { return c.retried.Load() }

// NotFound reports whether err is AWS's ResourceNotFoundException, by
// its code: the SDK models it for some operations only (not DetachPolicy,
// for one), and gives the others a generic API error.
func NotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf) || awsconf.Code(err) == "ResourceNotFoundException"
}
