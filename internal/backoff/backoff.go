package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Cap returns base doubled attempt times (attempt 0 is base), at most
// limit. A non-positive limit means no limit.
func Cap(base, limit time.Duration, attempt int) time.Duration {
	d := max(base, 0)
	for range attempt {
		if d > math.MaxInt64/2 || limit > 0 && d >= limit {
			break
		}
		d *= 2
	}
	if limit > 0 && d > limit {
		d = limit
	}
	return d
}

// Full is "full jitter": uniform in [1ns, Cap(base, limit, attempt)].
func Full(base, limit time.Duration, attempt int) time.Duration {
	d := Cap(base, limit, attempt)
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

// Equal is "equal jitter": uniform in the upper half of
// Cap(base, limit, attempt), for a delay that must not come out short.
func Equal(base, limit time.Duration, attempt int) time.Duration {
	d := Cap(base, limit, attempt)
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Sleep waits for d, or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
