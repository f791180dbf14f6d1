package rules

import (
	"testing"

	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// TestReplicasEvaluateOnce runs two evaluators on one database: only the
// lease holder evaluates and sends; when it crashes the other takes over
// after the lease expires, with the firing alert's state from the
// database and no second send.
func TestReplicasEvaluateOnce(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newWorld(t, db)
		a.writeRules("api.yml", lifecycleRules)
		b := *a // same clock, store, rules and data source
		b.t = t
		a.start(1)
		b.start(2) // b's group and ticker join a's on the shared clock
		a.src.set("x")
		for range 4 {
			a.clock.Advance(a.itv)
			a.settle(3) // two group loops and two watchers wait again
		}
		l, o := a, &b // whichever claimed the lease first evaluates
		if len(b.alerts("InstanceDown")) > 0 {
			l, o = &b, a
		}
		fired := l.alerts("InstanceDown")
		if len(fired) != 1 || fired["x"].State != promrules.StateFiring {
			t.Fatalf("the lease holder fires the alert, got %v", fired)
		}
		if got := o.alerts("InstanceDown"); len(got) != 0 {
			t.Fatalf("the other replica must not evaluate, got %v", got)
		}
		if n, m := len(l.router.take()), len(o.router.take()); n != 1 || m != 0 {
			t.Fatalf("one send in all: holder %d, other %d", n, m)
		}

		l.m.lease.mu.Lock()
		l.m.lease.owner = "crashed" // a crash: the lease is not released
		l.m.lease.mu.Unlock()
		l.stop()
		a.clock.Advance(leaseDuration)
		o.settle(1)
		o.tick(1)
		got := o.alerts("InstanceDown")["x"]
		if got == nil || got.State != promrules.StateFiring || !got.FiredAt.Equal(fired["x"].FiredAt) {
			t.Fatalf("after takeover: want firing since %s, got %+v", fired["x"].FiredAt, got)
		}
		if sent := o.router.take(); len(sent) != 0 {
			t.Errorf("the takeover must not re-send before the resend delay, got %v", sent)
		}
	})
}
