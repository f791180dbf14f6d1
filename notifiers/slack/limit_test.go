package slack

import (
	"testing"

	"golang.org/x/time/rate"
)

// Posts are paced per channel: an edit counts against the channel the
// message lives in, and channels do not share a budget.
func TestLimiterIsPerChannel(t *testing.T) {
	n := &Notifier{limiters: map[string]*rate.Limiter{}}
	ops := n.limiter("#ops", threadRef{})
	if n.limiter("#ops", threadRef{}) != ops {
		t.Error("two posts to #ops do not share a limiter")
	}
	if n.limiter("#ops", threadRef{Channel: "C1", TS: "1.1"}) == ops {
		t.Error("an edit is paced by the configured name, not by the channel it edits")
	}
	if n.limiter("#dev", threadRef{}) == ops {
		t.Error("#dev shares #ops's limiter")
	}
	if ops.Limit() != PerChannelRate || ops.Burst() != perChannelBurst {
		t.Errorf("limit %v burst %d, want Slack's %v and %d", ops.Limit(), ops.Burst(), PerChannelRate, perChannelBurst)
	}
}
