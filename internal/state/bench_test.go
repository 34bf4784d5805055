package state_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/thingpress/thingpress/internal/state"
)

// BenchmarkUpdate measures durable updates per second with 1 to 128
// concurrent writers, each update a step of a distinct device as the
// importer makes them. Every Update has been fsync'd when it returns.
//
//	go test -run '^$' -bench Update -benchtime 5000x ./internal/state
func BenchmarkUpdate(b *testing.B) {
	for _, writers := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openStore(b, filepath.Join(b.TempDir(), "bench.state"), testMeta())
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						key := fmt.Sprintf("%064x", n)
						if err := s.Update(key, func(d *state.Progress) error {
							d.CertificateID = key
							d.MarkDone(state.StepRegister)
							d.Status = "registered"
							return nil
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}

// BenchmarkOpen measures Open of a state file of a million complete
// devices, which checks every page (twice: see openDB); the file is made
// once, in about ten seconds.
//
//	go test -run '^$' -bench Open -benchtime 5x ./internal/state
func BenchmarkOpen(b *testing.B) {
	p := filepath.Join(b.TempDir(), "million.state")
	s := openStore(b, p, testMeta())
	if err := state.Fill(s, 1_000_000); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := state.Open(p, testMeta())
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
