package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Meter counts done devices against a total that may become known late.
type Meter struct {
	total atomic.Int64 // -1 while unknown
	done  atomic.Int64
	start time.Time
	// base is what was done before the meter started, so the rate
	// counts only this run's work.
	base atomic.Int64

	w        io.Writer
	terminal bool
	interval time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
	now      func() time.Time
	// skipShort leaves out the last log line when none came before.
	skipShort bool
	drawn     int
}

// New returns a meter that writes to w: a redrawn bar when terminal is
// true, else a line every interval.
func New(w io.Writer, terminal bool, interval time.Duration) *Meter {
	m := &Meter{w: w, terminal: terminal, interval: interval, stop: make(chan struct{}), now: time.Now}
	m.total.Store(-1)
	return m
}

// SkipShort makes a log meter (not a bar) draw its last line only when
// an earlier one was drawn: a run shorter than the interval says nothing.
func (m *Meter) SkipShort() { m.skipShort = true }

// SetTotal sets the number of devices when it is known.
func (m *Meter) SetTotal(n int64) { m.total.Store(n) }

// Add counts n done devices; resumed ones that cost nothing are counted
// with AddResumed so they do not inflate the rate.
func (m *Meter) Add(n int64) { m.done.Add(n) }

// AddResumed counts devices that were already done.
func (m *Meter) AddResumed(n int64) {
	m.done.Add(n)
	m.base.Add(n)
}

// Start begins drawing.
func (m *Meter) Start() {
	m.start = m.now()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		every := m.interval
		if m.terminal {
			every = 250 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.draw(false)
			case <-m.stop:
				m.draw(true)
				return
			}
		}
	}()
}

// Stop draws the last state and ends the line.
func (m *Meter) Stop() {
	close(m.stop)
	m.wg.Wait()
}

// Line renders the current state, e.g. "120/300 40% 10.1/s ETA 18s".
func (m *Meter) Line() string {
	done, total := m.done.Load(), m.total.Load()
	el := m.now().Sub(m.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done-m.base.Load()) / el
	}
	tot, pct, eta := "?", "", ""
	if total >= 0 {
		tot = fmt.Sprint(total)
		if total > 0 {
			pct = fmt.Sprintf(" %3.0f%%", 100*float64(done)/float64(total))
		}
		if rate > 0 && total > done {
			eta = " ETA " + (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
		}
	}
	return fmt.Sprintf("%d/%s%s %.1f/s%s", done, tot, pct, rate, eta)
}

func (m *Meter) draw(final bool) {
	if !m.terminal {
		if final && m.skipShort && m.drawn == 0 {
			return
		}
		m.drawn++
		fmt.Fprintf(m.w, "progress: %s\n", m.Line())
		return
	}
	const width = 30
	bar := strings.Repeat(" ", width)
	if total := m.total.Load(); total > 0 {
		n := int(float64(width) * float64(m.done.Load()) / float64(total))
		n = min(max(n, 0), width)
		bar = strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	}
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(m.w, "\r[%s] %s\033[K%s", bar, m.Line(), end)
}
