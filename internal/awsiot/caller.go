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

	"github.com/thingpress/thingpress/internal/backoff"
	"github.com/thingpress/thingpress/internal/ratelimit"
)

// ErrGaveUp means a call was still throttled or failing transiently when
// its attempts ran out.
var ErrGaveUp = errors.New("gave up retrying")

// ErrInterrupted means ctx ended before a call was sent or while it
// waited to be retried.
var ErrInterrupted = errors.New("interrupted")

// Caller makes IoT calls under per-operation rate limits, retrying
// throttles and transient faults with jittered backoff, and counts them:
// the one retry loop of the IoT calls of import, bind, verify and remove.
// It is safe for concurrent use; its settings must not change once it
// is in use.
type Caller struct {
	Limits *ratelimit.Set
	// MaxAttempts bounds the attempts of a call that fails transiently,
	// MaxThrottled those of one that is throttled.
	MaxAttempts  int
	MaxThrottled int
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	Logger       *slog.Logger // nil: no retry log

	calls              sync.Map // op -> *atomic.Int64
	throttled, retried atomic.Int64
}

// Caller defaults.
const (
	DefaultMaxAttempts  = 10
	DefaultMaxThrottled = 60
	DefaultBackoffBase  = 100 * time.Millisecond
	DefaultBackoffMax   = 10 * time.Second
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

// Try is Do for a caller that must tell a lost answer from a refusal:
// ctx governs the waits and callCtx the calls (so that a call once sent
// can be finished after an interrupt), errors are not prefixed, and
// maybeDone reports whether an earlier attempt failed transiently: such
// an attempt (a 5xx, a dropped connection) may have taken effect
// without its answer reaching us.
func (c *Caller) Try(ctx, callCtx context.Context, op string, fn func(context.Context) error) (maybeDone bool, err error) {
	lim := c.Limits.Get(op)
	throttled, failed := 0, 0
	for {
		if err := lim.Wait(ctx); err != nil {
			return failed > 0, ErrInterrupted
		}
		c.count(op)
		err := fn(callCtx)
		if err == nil {
			lim.Succeeded()
			return failed > 0, nil
		}
		switch Classify(err) {
		case Throttled:
			lim.Throttled()
			c.throttled.Add(1)
			if throttled++; throttled >= positive(c.MaxThrottled, DefaultMaxThrottled) {
				return failed > 0, fmt.Errorf("%w: still throttled after %d attempts: %w", ErrGaveUp, throttled, err)
			}
		case Transient:
			c.retried.Add(1)
			if failed++; failed >= positive(c.MaxAttempts, DefaultMaxAttempts) {
				return true, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, failed, err)
			}
			if c.Logger != nil {
				c.Logger.Debug("retrying", "op", op, "attempt", failed, "err", Message(err))
			}
		default:
			return failed > 0, err
		}
		d := backoff.Full(positive(c.BackoffBase, DefaultBackoffBase), positive(c.BackoffMax, DefaultBackoffMax), throttled+failed)
		if !backoff.Sleep(ctx, d) {
			return failed > 0, ErrInterrupted
		}
	}
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
	return errors.As(err, &nf) || Code(err) == "ResourceNotFoundException"
}
