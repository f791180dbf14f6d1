package router

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

const testConfig = `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: team
    webhook_configs:
      - url: http://127.0.0.1:1/hook
`

// recorder is a Sink that keeps what it was given and can refuse.
type recorder struct {
	mu       sync.Mutex
	got      []*Notification
	suppress bool
}

func (s *recorder) Flush(_ context.Context, _ *storage.Tx, n *Notification) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.suppress {
		return false, nil
	}
	s.got = append(s.got, n)
	return true, nil
}

func (s *recorder) all() []*Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Notification(nil), s.got...)
}

type harness struct {
	t     *testing.T
	db    *storage.DB
	clock *clockwork.FakeClock
	sink  *recorder
	r     *Router
	stop  context.CancelFunc
	done  chan struct{}
}

var epoch = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func start(t *testing.T, db *storage.DB, clock *clockwork.FakeClock, cfgText string) *harness {
	t.Helper()
	cfg, err := amconfig.Load(cfgText)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, clock: clock, sink: &recorder{}, done: make(chan struct{})}
	h.r = New(Options{DB: db, Clock: clock, Sink: h.sink, Registerer: prometheus.NewRegistry()})
	if err := h.r.ApplyConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.r.Run(ctx); close(h.done) }()
	t.Cleanup(h.shutdown)
	return h
}

func (h *harness) shutdown() {
	h.stop()
	<-h.done
}

// firing is an alert as Prometheus sends it, with an endsAt far enough
// ahead that it does not time out during a test.
func firing(name, instance string, startsAt time.Time) *alert.Alert {
	return firingUntil(name, instance, startsAt, startsAt.Add(24*time.Hour))
}

func firingUntil(name, instance string, startsAt, endsAt time.Time) *alert.Alert {
	return alert.New(model.Alert{
		Labels:   model.LabelSet{"alertname": model.LabelValue(name), "instance": model.LabelValue(instance)},
		StartsAt: startsAt,
		EndsAt:   endsAt,
	}, startsAt, true)
}

func resolved(a *alert.Alert, at time.Time) *alert.Alert {
	m := a.Alert
	m.EndsAt = at
	return alert.New(m, at, false)
}

func (h *harness) ingest(as ...*alert.Alert) {
	h.t.Helper()
	if err := h.r.Ingest(context.Background(), as); err != nil {
		h.t.Fatal(err)
	}
}

// advance moves the clock and waits until the sink has seen want
// notifications in all, failing if it sees more or too few.
func (h *harness) advance(d time.Duration, want int) []*Notification {
	h.t.Helper()
	h.clock.Advance(d)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := h.sink.all()
		if len(got) == want && h.idle() {
			return got
		}
		if len(got) > want {
			h.t.Fatalf("after +%v: %d notifications, want %d", d, len(got), want)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after +%v: %d notifications, want %d", d, len(got), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// idle reports whether no flush is running or due at the fake clock's now.
func (h *harness) idle() bool {
	if h.r.active.Load() != 0 {
		return false
	}
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	for _, g := range h.r.groups {
		if g.inFlight || !g.nextFlush.After(h.clock.Now()) {
			return false
		}
	}
	return true
}

func TestGroupWaitThenRepeat(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Down", "a", epoch))

		h.advance(29*time.Second, 0)
		got := h.advance(time.Second, 1)
		n := got[0]
		if n.Reason != ReasonFirst || n.Receiver != "team" || len(n.Alerts) != 1 {
			t.Fatalf("first notification = %+v", n)
		}
		if !n.Alerts[0].EndsAt.IsZero() {
			t.Errorf("firing alert notified with endsAt %v, want zero", n.Alerts[0].EndsAt)
		}
		if n.GroupKey != `{}:{alertname="Down"}` {
			t.Errorf("group key = %q", n.GroupKey)
		}
		// Alertmanager re-sends on the first group_interval tick strictly
		// after repeat_interval has passed: here 65m after the first send.
		h.ingest(firing("Down", "a", epoch)) // a re-send that changes nothing
		h.advance(60*time.Minute, 1)
		got = h.advance(5*time.Minute, 2)
		if got[1].Reason != ReasonRepeat {
			t.Fatalf("second notification reason = %s, want repeat", got[1].Reason)
		}
	})
}

func TestNewAlertJoinsOnNextInterval(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Down", "a", epoch))
		h.advance(30*time.Second, 1)
		h.ingest(firing("Down", "b", clock.Now()))
		got := h.advance(5*time.Minute, 2)
		if got[1].Reason != ReasonNew || len(got[1].Alerts) != 2 {
			t.Fatalf("second notification: reason %s with %d alerts", got[1].Reason, len(got[1].Alerts))
		}
	})
}

func TestResolvedWithinGroupWaitIsNeverNotified(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		a := firing("Flap", "a", epoch)
		h.ingest(a)
		h.advance(10*time.Second, 0)
		h.ingest(resolved(a, clock.Now()))
		h.advance(time.Hour, 0)
		h.r.mu.Lock()
		defer h.r.mu.Unlock()
		if len(h.r.groups) != 0 || len(h.r.alerts) != 0 {
			t.Fatalf("resolved alert left %d groups and %d alerts", len(h.r.groups), len(h.r.alerts))
		}
	})
}

func TestResolveNotifiesAndCleansUp(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		a := firing("Down", "a", epoch)
		h.ingest(a)
		h.advance(30*time.Second, 1)
		h.ingest(resolved(a, clock.Now()))
		got := h.advance(5*time.Minute, 2)
		if got[1].Reason != ReasonResolved || got[1].Firing() {
			t.Fatalf("second notification: reason %s, firing %v", got[1].Reason, got[1].Firing())
		}
		var n int
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM alerts`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("alerts left in store: %d (%v)", n, err)
		}
	})
}

func TestResolveTimeoutResolves(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firingUntil("Down", "a", epoch, epoch.Add(5*time.Minute))) // never re-sent
		h.advance(30*time.Second, 1)
		got := h.advance(5*time.Minute, 2)
		if got[1].Firing() {
			t.Fatal("alert past its endsAt still firing")
		}
	})
}

func TestSuppressedFlushIsRetriedNotLogged(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.sink.suppress = true
		h.ingest(firing("Down", "a", epoch))
		h.advance(30*time.Second, 0)
		h.sink.mu.Lock()
		h.sink.suppress = false
		h.sink.mu.Unlock()
		got := h.advance(5*time.Minute, 1)
		if got[0].Reason != ReasonFirst {
			t.Fatalf("reason = %s, want first: a suppressed flush must not count as sent", got[0].Reason)
		}
	})
}

func TestRestartKeepsStateAndDoesNotResend(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Down", "a", epoch), firing("Other", "x", epoch))
		h.advance(30*time.Second, 2)
		h.ingest(firing("Late", "z", clock.Now())) // still in group_wait at the restart
		h.advance(10*time.Second, 2)
		h.shutdown()

		h2 := start(t, db, clock, testConfig)
		// The restarted router finishes Late's group_wait, and does not
		// re-notify the groups already notified.
		got := h2.advance(20*time.Second, 1)
		if got[0].GroupLabels["alertname"] != "Late" {
			t.Fatalf("after restart notified %v, want only Late", got[0].GroupLabels)
		}
		h2.advance(50*time.Minute, 1)
		h2.r.mu.Lock()
		alerts, groups := len(h2.r.alerts), len(h2.r.groups)
		h2.r.mu.Unlock()
		if alerts != 3 || groups != 3 {
			t.Fatalf("restored %d alerts in %d groups, want 3 in 3", alerts, groups)
		}
	})
}

func TestOldAlertSkipsGroupWait(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Old", "a", epoch.Add(-time.Hour)))
		// group_wait has long passed for this alert: it goes out at once.
		h.advance(0, 1)
	})
}

func TestReloadKeepsGroups(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Down", "a", epoch))
		h.advance(30*time.Second, 1)
		cfg, err := amconfig.Load(testConfig)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.r.ApplyConfig(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		// Same group, same notification log: no notification until repeat.
		h.advance(55*time.Minute, 1)
	})
}
