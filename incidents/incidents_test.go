package incidents

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// queue is an Enqueuer that keeps the messages it was handed.
type queue struct{ msgs []*notifiers.Message }

func (q *queue) Enqueue(_ context.Context, _ *storage.Tx, m *notifiers.Message) error {
	q.msgs = append(q.msgs, m)
	return nil
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type fixture struct {
	t   testing.TB
	db  *storage.DB
	s   *Service
	q   *queue
	clk *clockwork.FakeClock
}

func newFixture(t testing.TB, db *storage.DB) *fixture {
	cfg, err := config.Load([]byte("route:\n  receiver: team\nreceivers:\n  - name: team\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, q: &queue{}, clk: clockwork.NewFakeClockAt(t0)}
	f.s = New(Options{DB: db, Clock: f.clk, Outbox: f.q, Registerer: prometheus.NewRegistry()})
	if err := f.s.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func alertAt(instance string, starts, ends time.Time) *alert.Alert {
	return alert.New(model.Alert{
		Labels:      model.LabelSet{"alertname": "Down", "instance": model.LabelValue(instance), "severity": "critical"},
		Annotations: model.LabelSet{"summary": "Target is down"},
		StartsAt:    starts, EndsAt: ends,
	}, starts, false)
}

// flush hands a notification to the service as the router would.
func (f *fixture) flush(reason router.Reason, at time.Time, alerts ...*alert.Alert) bool {
	f.t.Helper()
	n := &router.Notification{
		GroupID: "g1", GroupKey: `{}:{alertname="Down"}`, Receiver: "team",
		GroupLabels: model.LabelSet{"alertname": "Down"}, Alerts: alerts, Reason: reason, At: at,
	}
	var notified bool
	err := f.db.InTx(context.Background(), func(tx *storage.Tx) error {
		var err error
		notified, err = f.s.Flush(context.Background(), tx, n)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return notified
}

func (f *fixture) only() *Incident {
	f.t.Helper()
	list, err := f.s.List(context.Background(), Filter{})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(list) != 1 {
		f.t.Fatalf("%d incidents, want 1", len(list))
	}
	inc, err := f.s.Get(context.Background(), list[0].ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return inc
}

func kinds(inc *Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		a := alertAt("a", t0, time.Time{})
		if !f.flush(router.ReasonFirst, t0, a) {
			t.Fatal("first flush not notified")
		}
		inc := f.only()
		if inc.Status != Triggered || inc.Title != "Down: Target is down" || inc.Severity != "critical" {
			t.Fatalf("opened incident = %+v", inc)
		}
		if len(inc.Alerts) != 1 || inc.Alerts[0].Status != "firing" {
			t.Fatalf("alerts = %+v", inc.Alerts)
		}
		if f.q.msgs[0].IncidentID != inc.ID {
			t.Fatalf("message carries incident %d, want %d", f.q.msgs[0].IncidentID, inc.ID)
		}

		acked, err := f.s.Ack(ctx, inc.ID, Actor{Name: "alice", Via: "api"})
		if err != nil {
			t.Fatal(err)
		}
		if acked.Status != Acknowledged || acked.AckedBy.Name != "alice" || acked.AckedBy.Via != "api" {
			t.Fatalf("after ack = %+v", acked)
		}
		// A repeat of an acknowledged incident is suppressed.
		if f.flush(router.ReasonRepeat, t0.Add(time.Hour), a) {
			t.Fatal("repeat of an acknowledged incident was notified")
		}
		// A new alert joining is not.
		b := alertAt("b", t0.Add(time.Hour), time.Time{})
		if !f.flush(router.ReasonNew, t0.Add(time.Hour), a, b) {
			t.Fatal("new alert joining an acknowledged incident was not notified")
		}
		// All resolved: the incident resolves by itself.
		end := t0.Add(2 * time.Hour)
		if !f.flush(router.ReasonResolved, end, alertAt("a", t0, end.Add(-time.Minute)), alertAt("b", t0, end.Add(-time.Minute))) {
			t.Fatal("resolution not notified")
		}
		inc = f.only()
		if inc.Status != Resolved || inc.ResolvedBy.Via != "alerts" {
			t.Fatalf("after resolution = %+v", inc)
		}
		want := []string{"opened", "alert_firing", "notification_queued", "acknowledged", "alert_firing",
			"notification_queued", "alert_resolved", "alert_resolved", "resolved", "notification_queued"}
		if got := kinds(inc); len(got) != len(want) {
			t.Fatalf("timeline %v, want %v", got, want)
		} else {
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("timeline %v, want %v", got, want)
				}
			}
		}
		// first, acknowledged (for Slack and PagerDuty), new, resolved.
		if len(f.q.msgs) != 4 || f.q.msgs[1].Reason != notifiers.ReasonAcknowledged {
			t.Fatalf("%d messages queued, want 4 with the acknowledgement second", len(f.q.msgs))
		}
	})
}

func TestFiringAgainOpensNewIncident(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db)
		f.flush(router.ReasonFirst, t0, alertAt("a", t0, time.Time{}))
		f.flush(router.ReasonResolved, t0.Add(time.Minute), alertAt("a", t0, t0.Add(time.Minute)))
		f.flush(router.ReasonNew, t0.Add(time.Hour), alertAt("a", t0.Add(time.Hour), time.Time{}))
		list, err := f.s.List(context.Background(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Status != Triggered || list[1].Status != Resolved {
			t.Fatalf("incidents = %+v", list)
		}
	})
}

func TestResolvedByHandStopsRepeats(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		a := alertAt("a", t0, time.Time{})
		f.flush(router.ReasonFirst, t0, a)
		inc := f.only()
		if _, err := f.s.Resolve(ctx, inc.ID, Actor{Name: "bob", Via: "cli"}); err != nil {
			t.Fatal(err)
		}
		if f.flush(router.ReasonRepeat, t0.Add(time.Hour), a) {
			t.Fatal("repeat after a manual resolve was notified")
		}
		if _, err := f.s.Ack(ctx, inc.ID, Actor{Name: "bob", Via: "cli"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("ack of a resolved incident: err = %v, want ErrConflict", err)
		}
	})
}

func TestUnknownIncident(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db)
		if _, err := f.s.Ack(context.Background(), 999, Actor{Name: "x", Via: "api"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if _, err := f.s.Get(context.Background(), 999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

// TestFirstNotificationJoinsOpenIncident checks that a group's first
// notification (as after its notification log entry expired) attaches to
// the group's incident that is still open instead of opening a second.
func TestFirstNotificationJoinsOpenIncident(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db)
		f.flush(router.ReasonFirst, t0, alertAt("a", t0, time.Time{}))
		first := f.only()
		if !f.flush(router.ReasonFirst, t0.Add(time.Hour), alertAt("a", t0, time.Time{}), alertAt("b", t0.Add(time.Hour), time.Time{})) {
			t.Fatal("second first notification not notified")
		}
		inc := f.only()
		if inc.ID != first.ID || len(inc.Alerts) != 2 {
			t.Fatalf("incident %d with %d alerts, want incident %d with 2", inc.ID, len(inc.Alerts), first.ID)
		}
		if got := kinds(inc); len(slices.DeleteFunc(slices.Clone(got), func(k string) bool { return k != "opened" })) != 1 {
			t.Fatalf("timeline %v says opened twice", got)
		}
		if m := f.q.msgs[len(f.q.msgs)-1]; m.IncidentID != first.ID {
			t.Fatalf("message carries incident %d, want %d", m.IncidentID, first.ID)
		}
	})
}
