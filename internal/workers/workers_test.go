package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
)

var (
	errStop  = errors.New("interrupted")
	errFatal = errors.New("state file failed")
	errFeed  = errors.New("manifest unreadable")
	// errStopWhy is errStop with why.
	errStopWhy = fmt.Errorf("endpoint unreachable: %w", errStop)
)

func TestEach(t *testing.T) {
	tests := []struct {
		name    string
		cancel  bool  // the parent context is done before the run
		feedErr error // what feed returns once it has sent 1 to 40
		do      func(v int) (int, error)
		want    error
		results int // at least; exactly when exact
		exact   bool
		fewer   bool // fewer than every value's result
	}{
		{name: "every result and the skipped ones", do: func(v int) (int, error) { return v, nil }, results: 42, exact: true},
		{name: "feed error", feedErr: errFeed, do: func(v int) (int, error) { return v, nil }, want: errFeed, results: 42, exact: true},
		{name: "an interrupted value is dropped and stops the run", do: func(v int) (int, error) {
			if v == 5 {
				return 0, errStop
			}
			return v, nil
		}, want: errStop, results: 2, fewer: true},
		{name: "the error that stopped the run is returned", do: func(v int) (int, error) {
			if v == 5 {
				return 0, errStopWhy
			}
			return v, nil
		}, want: errStopWhy, results: 2, fewer: true},
		{name: "a fatal error stops the run", feedErr: errFeed, do: func(v int) (int, error) {
			if v == 3 {
				return 0, errFatal
			}
			return v, nil
		}, want: errFatal, results: 2},
		{name: "parent done", cancel: true, do: func(v int) (int, error) { return v, nil }, want: errStop, results: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			var inCall, overlaps atomic.Int32
			var results []int
			onResult := func(r int) {
				if inCall.Add(1) > 1 {
					overlaps.Add(1)
				}
				results = append(results, r)
				inCall.Add(-1)
			}
			sendErrs := 0
			feed := func(ctx context.Context, send func(int) error, skip func(int)) error {
				skip(-1)
				skip(-2)
				for v := 1; v <= 40; v++ {
					if err := send(v); err != nil {
						sendErrs++
						if !errors.Is(err, context.Canceled) {
							t.Errorf("send = %v, want ctx's error", err)
						}
						return err
					}
				}
				return tt.feedErr
			}
			err := Each(ctx, 4, errStop, onResult, feed, func(_ context.Context, v *int) (int, error) { return tt.do(*v) })
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Errorf("Each = %v, want %v", err, tt.want)
			}
			if overlaps.Load() > 0 {
				t.Errorf("onResult called %d times while another call ran", overlaps.Load())
			}
			if len(results) < tt.results || tt.exact && len(results) != tt.results {
				t.Errorf("%d results, want %d", len(results), tt.results)
			}
			if tt.fewer && len(results) >= 41 {
				t.Errorf("%d results: the run went on after the interrupted value", len(results))
			}
			if tt.fewer && slices.Contains(results, 0) {
				t.Errorf("an interrupted value's result was handed on: %v", results)
			}
			if tt.cancel && sendErrs != 1 {
				t.Errorf("send failed %d times with the parent done, want once", sendErrs)
			}
		})
	}
}
