package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		total         int64
		done, resumed int64
		elapsed       time.Duration
		want          string
	}{
		{name: "total unknown", total: -1, done: 20, elapsed: 2 * time.Second, want: "20/? 10.0/s"},
		{name: "with ETA", total: 300, done: 120, elapsed: 12 * time.Second, want: "120/300  40% 10.0/s ETA 18s"},
		{name: "resumed do not count in the rate", total: 100, done: 60, resumed: 50, elapsed: 1 * time.Second, want: "60/100  60% 10.0/s ETA 4s"},
		{name: "done", total: 10, done: 10, elapsed: time.Second, want: "10/10 100% 10.0/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(&bytes.Buffer{}, false, time.Hour)
			m.start = start
			m.now = func() time.Time { return start.Add(tt.elapsed) }
			m.SetTotal(tt.total)
			m.AddResumed(tt.resumed)
			m.Add(tt.done - tt.resumed)
			if got := m.Line(); got != tt.want {
				t.Errorf("Line() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDraw(t *testing.T) {
	var log, bar bytes.Buffer
	for _, c := range []struct {
		w        *bytes.Buffer
		terminal bool
	}{{&log, false}, {&bar, true}} {
		m := New(c.w, c.terminal, time.Hour)
		m.SetTotal(4)
		m.Start()
		m.Add(2)
		m.Stop()
	}
	if !strings.HasPrefix(log.String(), "progress: 2/4") || strings.Contains(log.String(), "\r") {
		t.Errorf("log output %q", log.String())
	}
	if !strings.Contains(bar.String(), "\r[===============               ] 2/4") || !strings.HasSuffix(bar.String(), "\n") {
		t.Errorf("bar output %q", bar.String())
	}
}

// TestSkipShort checks that a log meter with SkipShort says nothing for a
// run shorter than its interval, and its last line after a longer one.
func TestSkipShort(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		wait     time.Duration
		want     bool
	}{
		{name: "short run", interval: time.Hour, want: false},
		{name: "long run", interval: 10 * time.Millisecond, wait: 50 * time.Millisecond, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			m := New(&log, false, tc.interval)
			m.SkipShort()
			m.SetTotal(4)
			m.Start()
			m.Add(4)
			time.Sleep(tc.wait)
			m.Stop()
			if got := strings.Contains(log.String(), "progress: 4/4 100%"); got != tc.want {
				t.Errorf("last line drawn %v, want %v: %q", got, tc.want, log.String())
			}
		})
	}
}
