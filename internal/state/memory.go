package state

import (
	"slices"
	"sync"
	"time"
)

// Journal records each device's steps under its key: *Store (a file
// that survives a crash) and *Memory (for the Lambda importer) satisfy
// it; import, bind and remove write through it.
type Journal interface {
	Get(key string) (Progress, bool, error)
	Update(key string, fn func(*Progress) error) error
}

// Memory is a Journal kept in memory only: for the Lambda importer, whose
// messages are redelivered whole, so every step of a device is made again
// on a retry; that is safe because each step is idempotent at AWS (a
// registered certificate answers with its ID and ARN), it only costs
// calls.
type Memory struct {
	mu sync.Mutex
	m  map[string]Progress
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{m: map[string]Progress{}} }

// Get returns the progress stored under key.
func (s *Memory) Get(key string) (Progress, bool, error) {
	if key == "" {
		return Progress{}, false, ErrEmptyKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.m[key]
	d.Done = slices.Clone(d.Done)
	return d, ok, nil
}

// Update applies fn to the progress stored under key and keeps the result
// unless fn fails.
func (s *Memory) Update(key string, fn func(*Progress) error) error {
	if key == "" {
		return ErrEmptyKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.m[key]
	d.Done = slices.Clone(d.Done)
	if err := fn(&d); err != nil {
		return err
	}
	d.Updated = time.Now().UTC()
	s.m[key] = d
	return nil
}
