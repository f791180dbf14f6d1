package router

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// immediateConfig has a route that pages at once (group_wait 0s) beside
// the default route's 30s, and an inhibition rule.
const immediateConfig = `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: [page="now"]
      group_wait: 0s
receivers:
  - name: team
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
`

func page(name string, at time.Time, extra model.LabelSet) *alert.Alert {
	ls := model.LabelSet{"alertname": model.LabelValue(name), "page": "now"}
	for k, v := range extra {
		ls[k] = v
	}
	return labelled(ls, at)
}

// waitRunning waits until Run flushes: only then does ingest flush groups
// itself.
func (h *harness) waitRunning() {
	h.t.Helper()
	waitFor(h.t, "Run to start", func() bool {
		h.r.mu.Lock()
		defer h.r.mu.Unlock()
		return h.r.running
	})
}

// startImmediate starts a router with immediateConfig on a fake clock at
// epoch, and waits until Run flushes.
func startImmediate(t *testing.T, db *storage.DB) *harness {
	t.Helper()
	h := start(t, db, clockwork.NewFakeClockAt(epoch), immediateConfig)
	h.waitRunning()
	return h
}

func (h *harness) inlineFlushes() int {
	return int(testutil.ToFloat64(h.r.metrics.inlineFlushes))
}

// TestImmediateGroupFlushedInIngestTransaction: the first notification of a
// new group on a group_wait 0s route is recorded by the ingest that forms
// the group, before Ingest returns, with its notification log entry and
// timer stored; the flushers do not notify it again, and the group's next
// alert waits for group_interval as usual.
func TestImmediateGroupFlushedInIngestTransaction(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := startImmediate(t, db)
		clock := h.clock

		h.ingest(page("Down", epoch, model.LabelSet{"instance": "a"}), firing("Slow", "a", epoch))
		got := h.sink.all()
		if len(got) != 1 || got[0].GroupLabels["alertname"] != "Down" || got[0].Reason != ReasonFirst {
			t.Fatalf("notified when Ingest returned: %v, want the first notification of Down", got)
		}
		if n := h.inlineFlushes(); n != 1 {
			t.Errorf("inline flushes = %d, want 1", n)
		}
		id := got[0].GroupID
		ctx := context.Background()
		nflog, err := loadNflog(ctx, db, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if e := nflog[id]; e == nil || len(e.Firing) != 1 {
			t.Errorf("stored notification log of the group: %+v, want one firing alert", e)
		}
		groups, err := loadGroups(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if g := groups[id]; !g.flushed || !g.nextFlush.Equal(epoch.Add(5*time.Minute)) {
			t.Errorf("stored group = %+v, want flushed, next flush at %v", g, epoch.Add(5*time.Minute))
		}

		// Nothing more is due now: the flushers leave the group alone.
		h.advance(0, 1)
		// The group's next alert joins it and waits for group_interval;
		// the 30s route's group flushes after its group_wait.
		h.ingest(page("Down", epoch, model.LabelSet{"instance": "b"}))
		got = h.advance(30*time.Second, 2)
		if got[1].GroupLabels["alertname"] != "Slow" {
			t.Fatalf("second notification is of %v, want Slow", got[1].GroupLabels)
		}
		got = h.advance(5*time.Minute-30*time.Second, 3)
		if got[2].GroupLabels["alertname"] != "Down" || len(got[2].Alerts) != 2 || got[2].Reason != ReasonNew {
			t.Fatalf("third notification = %v %v with %d alerts, want Down with both alerts", got[2].GroupLabels, got[2].Reason, len(got[2].Alerts))
		}
		if n := h.inlineFlushes(); n != 1 {
			t.Errorf("inline flushes = %d, want still 1", n)
		}
	})
}

// TestInlineFlushLeavesMutingToFlushers: a batch that carries an
// inhibition source is not flushed by the ingest, whose muting would not
// see the source yet; the flushers decide after it is in memory, and the
// target is not notified. A silence another replica wrote is read before
// an inline flush decides.
func TestInlineFlushLeavesMutingToFlushers(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := startImmediate(t, db)
		clock := h.clock

		h.ingest(
			page("Crit", epoch, model.LabelSet{"severity": "critical", "cluster": "a"}),
			page("Warn", epoch, model.LabelSet{"severity": "warning", "cluster": "a"}),
		)
		got := h.advance(0, 1)
		if got[0].GroupLabels["alertname"] != "Crit" {
			t.Fatalf("notified %v, want only Crit", got[0].GroupLabels)
		}
		if n := h.inlineFlushes(); n != 0 {
			t.Errorf("inline flushes = %d, want 0 for a batch with an inhibition source", n)
		}

		// The source is held: a target alone in its batch is muted.
		h.ingest(page("Warn2", epoch, model.LabelSet{"severity": "warning", "cluster": "a"}))
		h.advance(0, 1)

		// Another replica silences what comes next; this one last read the
		// silences more than silenceCheckInterval ago.
		silenceElsewhere(t, db, clock, "Muted")
		clock.Advance(time.Second)
		h.ingest(page("Muted", clock.Now(), nil))
		h.advance(0, 1)
		h.ingest(page("Loud", clock.Now(), nil))
		got = h.advance(0, 2)
		if got[1].GroupLabels["alertname"] != "Loud" {
			t.Fatalf("notified %v, want Loud", got[1].GroupLabels)
		}
		if n := h.inlineFlushes(); n != 1 {
			t.Errorf("inline flushes = %d, want 1 (Loud)", n)
		}
	})
}

// silenceElsewhere silences alertname through another router on db, as
// another replica would, and returns the silence's id.
func silenceElsewhere(t *testing.T, db *storage.DB, clock clockwork.Clock, alertname string) string {
	t.Helper()
	other := New(Options{DB: db, Clock: clock, Sink: &recorder{}, Registerer: prometheus.NewRegistry()})
	id, err := other.SetSilence(context.Background(), &Silence{
		Matchers: matchers(t, `{alertname="`+alertname+`"}`), EndsAt: epoch.Add(time.Hour), CreatedBy: "other", Comment: "maintenance",
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// flakySink fails its first n flushes.
type flakySink struct {
	recorder
	mu    sync.Mutex
	fails int
}

func (s *flakySink) Flush(ctx context.Context, tx *storage.Tx, n *Notification) (bool, error) {
	s.mu.Lock()
	fail := s.fails > 0
	s.fails--
	s.mu.Unlock()
	if fail {
		return false, errors.New("sink refuses")
	}
	return s.recorder.Flush(ctx, tx, n)
}

// TestInlineFlushFailureKeepsAlerts: when the flush inside the ingest's
// transaction fails, the alerts are stored without it and the caller is
// told they are; a flusher notifies the group, once.
func TestInlineFlushFailureKeepsAlerts(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, immediateConfig)
		sink := &flakySink{fails: 1}
		h.r.mu.Lock()
		h.r.sink = sink
		h.r.mu.Unlock()
		h.waitRunning()

		a := page("Down", epoch, nil)
		h.ingest(a)
		if n := h.inlineFlushes(); n != 0 {
			t.Errorf("inline flushes = %d, want 0", n)
		}
		stored, err := loadAlerts(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		if stored[a.Fingerprint()] == nil {
			t.Fatal("alert not stored after its ingest succeeded")
		}
		// The flusher's attempt succeeds.
		waitFor(t, "the flusher's notification", func() bool { return len(sink.all()) == 1 && h.idle() })
		if got := sink.all(); len(got) != 1 || got[0].GroupLabels["alertname"] != "Down" {
			t.Fatalf("notified %v, want Down once", got)
		}
	})
}

// TestNoInlineFlushWithoutRun: a router that does not flush (Run not
// started) does not flush from ingest either.
func TestNoInlineFlushWithoutRun(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, immediateConfig)
		h.shutdown()
		h.ingest(page("Down", epoch, nil))
		if got := h.sink.all(); len(got) != 0 {
			t.Fatalf("notified %d times without Run, want 0", len(got))
		}
		if n := h.inlineFlushes(); n != 0 {
			t.Errorf("inline flushes = %d, want 0", n)
		}
	})
}

// TestSilencesWatchedWhileRunning: while Run flushes, silences another
// replica writes are read in the background, without a flush or an API
// call asking, so that a page's flush need not query the table first.
func TestSilencesWatchedWhileRunning(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := startImmediate(t, db)
		clock := h.clock
		id := silenceElsewhere(t, db, clock, "Muted")
		clock.Advance(silenceCheckInterval)
		waitFor(t, "the silence read in the background", func() bool {
			h.r.mu.Lock()
			defer h.r.mu.Unlock()
			return h.r.silences[id] != nil && h.r.silChecked.Equal(clock.Now())
		})
	})
}
