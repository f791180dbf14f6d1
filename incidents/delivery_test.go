package incidents

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// An acknowledgement queues the incident's state, with who acked, to its
// receiver; later notifications of the incident still carry the ack.
func TestAckQueuesAcknowledgedState(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db)
		f.flush(router.ReasonFirst, t0, alertAt("a", t0, time.Time{}))
		inc := f.only()
		f.clk.Advance(time.Minute)
		if _, err := f.s.Ack(context.Background(), inc.ID, Actor{Name: "alice", Via: "slack"}); err != nil {
			t.Fatal(err)
		}
		m := f.q.msgs[1]
		if m.Reason != notifiers.ReasonAcknowledged || m.IncidentID != inc.ID || m.Receiver != "team" ||
			m.GroupKey != inc.GroupKey || m.Ack == nil || m.Ack.By != "alice" || m.Ack.Via != "slack" ||
			!m.Ack.At.Equal(t0.Add(time.Minute)) {
			t.Fatalf("ack message = %+v", m)
		}
		if len(m.Alerts) != 1 || m.Alerts[0].Labels["instance"] != "a" || m.Alerts[0].ResolvedAt(m.At) {
			t.Fatalf("ack message alerts = %v, want the firing alert", m.Alerts)
		}
		// Acking again changes nothing and tells no one again.
		if _, err := f.s.Ack(context.Background(), inc.ID, Actor{Name: "bob", Via: "api"}); err != nil || len(f.q.msgs) != 2 {
			t.Fatalf("second ack: %v, %d messages", err, len(f.q.msgs))
		}
		f.flush(router.ReasonNew, t0.Add(time.Hour), alertAt("a", t0, time.Time{}), alertAt("b", t0, time.Time{}))
		if m := f.q.msgs[2]; m.Ack == nil || m.Ack.By != "alice" {
			t.Fatalf("notification after the ack = %+v, want the ack on it", m)
		}
	})
}

// Each delivery attempt is on the incident's timeline, with its reason.
func TestRecordDeliveryPutsAttemptsOnTimeline(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		f.flush(router.ReasonFirst, t0, alertAt("a", t0, time.Time{}))
		inc := f.only()
		results := []notifiers.Result{
			{IncidentID: inc.ID, Receiver: "team", Integration: "slack", Attempt: 1, Outcome: notifiers.OutcomeRetry, Err: errors.New("slack chat.postMessage: rate limited"), At: t0},
			{IncidentID: inc.ID, Receiver: "team", Integration: "slack", Attempt: 2, Outcome: notifiers.OutcomeSent, At: t0.Add(time.Second)},
			{IncidentID: inc.ID, Receiver: "team", Integration: "pagerduty", Attempt: 1, Outcome: notifiers.OutcomeFailed, Err: errors.New("PagerDuty answered 400"), At: t0},
			{IncidentID: 0, Receiver: "team", Integration: "webhook", Attempt: 1, Outcome: notifiers.OutcomeSent, At: t0},
			{IncidentID: 12345, Receiver: "team", Integration: "webhook", Attempt: 1, Outcome: notifiers.OutcomeSent, At: t0},
		}
		for _, r := range results {
			if err := db.InTx(ctx, func(tx *storage.Tx) error { return RecordDelivery(ctx, tx, r) }); err != nil {
				t.Fatalf("RecordDelivery(%+v) = %v", r, err)
			}
		}
		tl, err := f.s.Timeline(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range tl {
			if strings.HasPrefix(e.Kind, "notification_") && e.Kind != "notification_queued" {
				got = append(got, e.Kind+": "+e.Message)
			}
		}
		want := []string{
			"notification_retrying: slack[0] to team: retry (attempt 1): slack chat.postMessage: rate limited",
			"notification_sent: slack[0] to team: sent (attempt 2)",
			"notification_failed: pagerduty[0] to team: failed (attempt 1): PagerDuty answered 400",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// Resolving by hand tells the receiver, with who resolved and who had
// acknowledged.
func TestResolveQueuesClosedState(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		f.flush(router.ReasonFirst, t0, alertAt("a", t0, time.Time{}))
		inc := f.only()
		if _, err := f.s.Ack(ctx, inc.ID, Actor{Name: "alice", Via: "api"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Resolve(ctx, inc.ID, Actor{Name: "bob", Via: "cli"}); err != nil {
			t.Fatal(err)
		}
		m := f.q.msgs[len(f.q.msgs)-1]
		if m.Reason != notifiers.ReasonResolvedByHand || m.Closed == nil || m.Closed.By != "bob" ||
			m.Ack == nil || m.Ack.By != "alice" || len(m.Alerts) != 1 {
			t.Fatalf("resolve message = %+v", m)
		}
		if _, err := f.s.Resolve(ctx, inc.ID, Actor{Name: "carol", Via: "cli"}); err != nil || f.q.msgs[len(f.q.msgs)-1] != m {
			t.Fatalf("resolving again: %v; want nothing queued", err)
		}
	})
}
