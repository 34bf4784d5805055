package workers

import (
	"context"
	"errors"
	"sync"
)

// Each works on the values feed sends with do, workers at once (16 if not
// positive). Every result, do's and those feed passes to skip, goes to
// onResult, one call at a time. send returns ctx's error once the run
// stops, which feed should return. A do that ends in an error that Is
// interrupted drops its value and stops the run, as ctx ending does (an
// endpoint gone unreachable, say: the values not started are left); any
// other error of do (the state file
// failed: no device may go on without its steps recorded) stops the run
// and is returned. Each returns the first error of do that stopped the
// run (it Is interrupted), or interrupted when ctx ended before every
// value was done, else feed's error.
func Each[T, R any](ctx context.Context, workers int, interrupted error, onResult func(R),
	feed func(ctx context.Context, send func(T) error, skip func(R)) error,
	do func(context.Context, *T) (R, error)) error {
	if workers <= 0 {
		workers = 16
	}
	var mu sync.Mutex
	report := func(r R) {
		mu.Lock()
		defer mu.Unlock()
		if onResult != nil {
			onResult(r)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan T)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var stopped, fatal error
	setErr := func(dst *error, err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if *dst == nil {
			*dst = err
		}
	}
	for range workers {
		wg.Go(func() {
			for v := range work {
				res, err := do(runCtx, &v)
				switch {
				case errors.Is(err, interrupted):
					setErr(&stopped, err)
					cancel()
					continue
				case err != nil:
					setErr(&fatal, err)
					cancel()
					continue
				}
				report(res)
			}
		})
	}
	send := func(v T) error {
		select {
		case work <- v:
			return nil
		case <-runCtx.Done():
			return runCtx.Err()
		}
	}
	ferr := feed(runCtx, send, report)
	close(work)
	wg.Wait()
	switch {
	case fatal != nil:
		return fatal
	case stopped != nil:
		return stopped
	case ctx.Err() != nil:
		return interrupted
	}
	return ferr
}
