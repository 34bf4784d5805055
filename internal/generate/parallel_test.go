package generate

import (
	"errors"
	"testing"
)

func TestParallel(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		n       int
		workers int
		failAt  int // batch start that fails; -1 for none
		wantErr error
	}{
		{name: "nothing", n: 0, workers: 2, failAt: -1},
		{name: "one partial batch", n: 7, workers: 2, failAt: -1},
		{name: "many batches, one worker", n: 10*batchSize + 3, workers: 1, failAt: -1},
		{name: "many batches, many workers", n: 40*batchSize + 1, workers: 8, failAt: -1},
		{name: "error stops", n: 100 * batchSize, workers: 4, failAt: 3 * batchSize, wantErr: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := 0
			err := parallel(tc.n, tc.workers, func(lo, hi int) ([]int, error) {
				if lo == tc.failAt {
					return nil, boom
				}
				out := make([]int, 0, hi-lo)
				for i := lo; i < hi; i++ {
					out = append(out, i)
				}
				return out, nil
			}, func(v []int) error {
				for _, i := range v {
					if i != next {
						t.Fatalf("got %d, want %d", i, next)
					}
					next++
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && next != tc.n {
				t.Errorf("emitted %d, want %d", next, tc.n)
			}
			if tc.wantErr != nil && next != tc.failAt {
				t.Errorf("emitted %d before the error, want %d", next, tc.failAt)
			}
		})
	}
}
