package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The offset clock reads its offset from the file, never goes back, and
// fires a timer as soon as the offset passes its deadline, long before the
// timer's duration of real time.
func TestOffsetClock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "offset")
	set := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set("0s")
	flag := file
	c := &serveCmd{clockOffset: &flag}
	clk, err := c.clock()
	if err != nil {
		t.Fatal(err)
	}
	timer := clk.NewTimer(time.Hour)
	after := clk.After(2 * time.Hour)
	set("1h")
	if d := time.Until(clk.Now()); d < 59*time.Minute {
		t.Errorf("Now is %v ahead, want an hour", d)
	}
	select {
	case <-timer.Chan():
	case <-time.After(time.Minute): // a bound on a hang, not a speed test
		t.Fatal("a one-hour timer did not fire when the clock moved an hour")
	}
	set("30m")
	if d := time.Until(clk.Now()); d < 59*time.Minute {
		t.Errorf("the clock went back: %v ahead", d)
	}
	set("3h")
	select {
	case <-after:
	case <-time.After(time.Minute):
		t.Fatal("After(2h) did not fire when the clock moved three hours")
	}
	set("not a duration")
	if _, err := c.clock(); err == nil {
		t.Error("a bad offset file was accepted")
	}
}
