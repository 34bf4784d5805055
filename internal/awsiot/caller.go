package awsiot

import (
	"context"
	"errors"
	"fmt"
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

// Caller makes IoT calls under per-operation rate limits, retrying
// throttles and transient faults with jittered backoff, and counts them.
// Verify and remove use it; the importer has its own loop, which also
// tells a lost answer from a refusal. It is safe for concurrent use.
type Caller struct {
	Limits *ratelimit.Set
	// MaxAttempts bounds the attempts of a call that fails transiently,
	// MaxThrottled those of one that is throttled.
	MaxAttempts  int
	MaxThrottled int
	BackoffBase  time.Duration
	BackoffMax   time.Duration

	calls     sync.Map // op -> *atomic.Int64
	throttled atomic.Int64
}

// NewCaller returns a Caller at the rates of quotas (nil: DefaultQuotas).
func NewCaller(quotas map[string]float64) (*Caller, error) {
	if quotas == nil {
		quotas = ratelimit.DefaultQuotas()
	}
	set, err := ratelimit.NewSet(quotas, ratelimit.WithMargin(ratelimit.DefaultMargin))
	if err != nil {
		return nil, err
	}
	return &Caller{Limits: set, MaxAttempts: 10, MaxThrottled: 60, BackoffBase: 100 * time.Millisecond, BackoffMax: 10 * time.Second}, nil
}

// Do calls fn under op's limit until it succeeds, fails permanently, or
// its attempts run out (an error wrapping ErrGaveUp). It returns ctx's
// error when ctx is done while waiting.
func (c *Caller) Do(ctx context.Context, op string, fn func(context.Context) error) error {
	lim := c.Limits.Get(op)
	throttled, failed := 0, 0
	for {
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		c.count(op)
		err := fn(ctx)
		if err == nil {
			lim.Succeeded()
			return nil
		}
		switch Classify(err) {
		case Throttled:
			lim.Throttled()
			c.throttled.Add(1)
			if throttled++; throttled >= c.MaxThrottled {
				return fmt.Errorf("%s: %w: still throttled after %d attempts: %w", op, ErrGaveUp, throttled, err)
			}
		case Transient:
			if failed++; failed >= c.MaxAttempts {
				return fmt.Errorf("%s: %w after %d attempts: %w", op, ErrGaveUp, failed, err)
			}
		default:
			return fmt.Errorf("%s: %w", op, err)
		}
		if !backoff.Sleep(ctx, backoff.Full(c.BackoffBase, c.BackoffMax, throttled+failed)) {
			return ctx.Err()
		}
	}
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

// NotFound reports whether err is AWS's ResourceNotFoundException, by
// its code: the SDK models it for some operations only (not DetachPolicy,
// for one), and gives the others a generic API error.
func NotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf) || Code(err) == "ResourceNotFoundException"
}
