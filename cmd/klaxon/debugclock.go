package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// clock is the one clock of every part: the real one, or with
// --debug.clock-offset-file the real one plus an offset read from a file,
// so that a scenario test of the whole binary can move time forward (an
// escalation delay of five minutes, an ack timeout) without waiting.
func (c *serveCmd) clock() (clockwork.Clock, error) {
	if *c.clockOffset == "" {
		return clockwork.NewRealClock(), nil
	}
	oc := &offsetClock{file: *c.clockOffset}
	if _, err := oc.read(); err != nil {
		return nil, err
	}
	return oc, nil
}

// offsetPoll is how often timers of the offset clock look at the time: a
// jump of the offset must fire timers that are now due.
const offsetPoll = 20 * time.Millisecond

// offsetClock is the real clock shifted by the duration in a file. Its
// timers poll, so that moving the offset fires every timer it passes.
type offsetClock struct {
	file string
	mu   sync.Mutex
	last time.Duration
}

func (c *offsetClock) read() (time.Duration, error) {
	b, err := os.ReadFile(c.file)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("--debug.clock-offset-file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--debug.clock-offset-file: %w", err)
	}
	return d, nil
}

// Now never goes back: a file being rewritten reads as the last offset.
func (c *offsetClock) Now() time.Time {
	d, err := c.read()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && d > c.last {
		c.last = d
	}
	return time.Now().Add(c.last)
}

func (c *offsetClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *offsetClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }
func (c *offsetClock) After(d time.Duration) <-chan time.Time {
	return c.NewTimer(d).Chan()
}
func (c *offsetClock) Sleep(d time.Duration) { <-c.After(d) }

func (c *offsetClock) NewTimer(d time.Duration) clockwork.Timer {
	return c.newTimer(d, nil)
}

func (c *offsetClock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	return c.newTimer(d, f)
}

func (c *offsetClock) NewTicker(d time.Duration) clockwork.Ticker {
	t := &offsetTicker{ch: make(chan time.Time, 1)}
	t.timer = c.newTimer(d, func() {
		select {
		case t.ch <- c.Now():
		default:
		}
		t.timer.Reset(t.period())
	})
	t.d = d
	return t
}

type offsetTicker struct {
	mu    sync.Mutex
	d     time.Duration
	ch    chan time.Time
	timer *offsetTimer
}

func (t *offsetTicker) period() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.d
}
func (t *offsetTicker) Chan() <-chan time.Time { return t.ch }
func (t *offsetTicker) Stop()                  { t.timer.Stop() }
func (t *offsetTicker) Reset(d time.Duration) {
	t.mu.Lock()
	t.d = d
	t.mu.Unlock()
	t.timer.Reset(d)
}

// offsetTimer fires once the offset clock reaches its deadline.
type offsetTimer struct {
	c    *offsetClock
	f    func()
	ch   chan time.Time
	mu   sync.Mutex
	stop chan struct{} // nil when not armed
}

func (c *offsetClock) newTimer(d time.Duration, f func()) *offsetTimer {
	t := &offsetTimer{c: c, f: f, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

func (t *offsetTimer) Chan() <-chan time.Time { return t.ch }

func (t *offsetTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop == nil {
		return false
	}
	close(t.stop)
	t.stop = nil
	return true
}

func (t *offsetTimer) Reset(d time.Duration) bool {
	active := t.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	stop := make(chan struct{})
	t.stop = stop
	deadline := t.c.Now().Add(d)
	go t.wait(deadline, stop)
	return active
}

func (t *offsetTimer) wait(deadline time.Time, stop chan struct{}) {
	tick := time.NewTicker(offsetPoll)
	defer tick.Stop()
	for {
		if now := t.c.Now(); !now.Before(deadline) {
			t.mu.Lock()
			if t.stop != stop {
				t.mu.Unlock()
				return
			}
			t.stop = nil
			t.mu.Unlock()
			if t.f != nil {
				go t.f()
			} else {
				select {
				case t.ch <- now:
				default:
				}
			}
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
