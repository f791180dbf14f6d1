package router

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

func matchers(t *testing.T, s string) labels.Matchers {
	t.Helper()
	ms, err := labels.ParseMatchers(s)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func (h *harness) silence(s *Silence) string {
	h.t.Helper()
	id, err := h.r.SetSilence(context.Background(), s)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func TestSilenceMutesAndIsMarked(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		id := h.silence(&Silence{Matchers: matchers(t, `{alertname=~"Do.*",instance!="b"}`), EndsAt: epoch.Add(time.Hour), CreatedBy: "me", Comment: "maintenance"})
		h.ingest(firing("Down", "a", epoch), firing("Down", "b", epoch))
		got := h.advance(30*time.Second, 1)
		if len(got[0].Alerts) != 1 || got[0].Alerts[0].Labels["instance"] != "b" {
			t.Fatalf("notified %v, want only instance b", got[0].Alerts)
		}
		views := h.r.Alerts()
		if len(views) != 2 {
			t.Fatalf("%d alerts, want 2", len(views))
		}
		a := views[0]
		if a.Status.State != alert.AlertStateSuppressed || len(a.Status.SilencedBy) != 1 || a.Status.SilencedBy[0] != id {
			t.Fatalf("silenced alert status = %+v, want suppressed by %s", a.Status, id)
		}
		if views[1].Status.State != alert.AlertStateActive || len(views[1].Receivers) != 1 || views[1].Receivers[0] != "team" {
			t.Fatalf("other alert = %+v", views[1])
		}
	})
}

func TestSilenceExpiryUnmutesOnNextFlush(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		id := h.silence(&Silence{Matchers: matchers(t, `alertname="Down"`), EndsAt: epoch.Add(time.Hour)})
		h.ingest(firing("Down", "a", epoch))
		h.advance(30*time.Second, 0)
		if err := h.r.ExpireSilence(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		got := h.advance(5*time.Minute, 1)
		if got[0].Reason != ReasonFirst {
			t.Fatalf("reason %s, want first: a muted flush must not be logged", got[0].Reason)
		}
		s, err := h.r.GetSilence(context.Background(), id)
		if err != nil || s.State(clock.Now()) != silence.SilenceStateExpired {
			t.Fatalf("expired silence: %+v, %v", s, err)
		}
		if err := h.r.ExpireSilence(context.Background(), id); err != nil {
			t.Fatalf("expiring an expired silence: %v, want no error as in Alertmanager", err)
		}
	})
}

func TestSilenceUpdateRules(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		ms := matchers(t, `alertname="Down"`)
		id := h.silence(&Silence{Matchers: ms, StartsAt: epoch, EndsAt: epoch.Add(time.Hour)})

		// Only the end and comment change: updated in place.
		same := h.silence(&Silence{ID: id, Matchers: ms, StartsAt: epoch, EndsAt: epoch.Add(2 * time.Hour), Comment: "longer"})
		if same != id {
			t.Fatalf("in-place update got new id %s", same)
		}
		// The matchers change: the old one expires, a new one is made.
		other := h.silence(&Silence{ID: id, Matchers: matchers(t, `alertname="Up"`), EndsAt: epoch.Add(time.Hour)})
		if other == id {
			t.Fatal("changing matchers kept the id")
		}
		old, _ := h.r.GetSilence(context.Background(), id)
		if old.State(clock.Now()) != silence.SilenceStateExpired {
			t.Fatalf("replaced silence is %s, want expired", old.State(clock.Now()))
		}
		// A pending silence.
		pending := h.silence(&Silence{Matchers: ms, StartsAt: epoch.Add(time.Hour), EndsAt: epoch.Add(2 * time.Hour)})
		p, _ := h.r.GetSilence(context.Background(), pending)
		if p.State(clock.Now()) != silence.SilenceStatePending {
			t.Fatalf("future silence is %s", p.State(clock.Now()))
		}

		if _, err := h.r.SetSilence(context.Background(), &Silence{ID: "no-such-id", Matchers: ms, EndsAt: epoch.Add(time.Hour)}); !errors.Is(err, ErrSilenceNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		if _, err := h.r.SetSilence(context.Background(), &Silence{Matchers: ms, StartsAt: epoch.Add(time.Hour), EndsAt: epoch}); !errors.Is(err, ErrInvalidSilence) {
			t.Fatalf("endsAt before startsAt: %v", err)
		}
		if _, err := h.r.SetSilence(context.Background(), &Silence{Matchers: matchers(t, `foo=~".*"`), EndsAt: epoch.Add(time.Hour)}); !errors.Is(err, ErrInvalidSilence) {
			t.Fatalf("matcher matching everything: %v", err)
		}
		if err := h.r.ExpireSilence(context.Background(), "no-such-id"); !errors.Is(err, ErrSilenceNotFound) {
			t.Fatalf("expire unknown: %v", err)
		}

		// Everything survives a restart.
		h.shutdown()
		h2 := start(t, db, clock, testConfig)
		if n := len(silences(t, h2.r)); n != 3 {
			t.Fatalf("%d silences after restart, want 3", n)
		}
		s, err := h2.r.GetSilence(context.Background(), id)
		if err != nil || s.Comment != "longer" || !s.EndsAt.Equal(clock.Now()) || s.Matchers.String() != ms.String() {
			t.Fatalf("restored silence %+v, %v", s, err)
		}
		// Expired silences are kept for the retention, then dropped.
		clock.Advance(silenceRetention + 3*time.Hour)
		if n := len(silences(t, h2.r)); n != 0 {
			t.Fatalf("%d silences after retention, want 0", n)
		}
	})
}

const inhibitConfig = `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: team
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
  - source_match: {alertname: Both}
    target_match_re: {alertname: "Both|Other"}
`

func labelled(ls model.LabelSet, at time.Time) *alert.Alert {
	return alert.New(model.Alert{Labels: ls, StartsAt: at, EndsAt: at.Add(24 * time.Hour)}, at, true)
}

func TestInhibition(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, inhibitConfig)
		src := labelled(model.LabelSet{"alertname": "Crit", "severity": "critical", "cluster": "a"}, epoch)
		h.ingest(src,
			labelled(model.LabelSet{"alertname": "Warn", "severity": "warning", "cluster": "a"}, epoch),
			labelled(model.LabelSet{"alertname": "Warn", "severity": "warning", "cluster": "b"}, epoch),
			// Missing cluster on both sides counts as equal.
			labelled(model.LabelSet{"alertname": "CritNoCluster", "severity": "critical"}, epoch),
			labelled(model.LabelSet{"alertname": "WarnNoCluster", "severity": "warning"}, epoch),
			// Matches both sides of the second rule: not inhibited by itself.
			labelled(model.LabelSet{"alertname": "Both"}, epoch),
			labelled(model.LabelSet{"alertname": "Other"}, epoch),
		)
		got := h.advance(30*time.Second, 4)
		names := map[model.LabelValue]int{}
		for _, n := range got {
			for _, a := range n.Alerts {
				names[a.Labels["alertname"]]++
			}
		}
		want := map[model.LabelValue]int{"Crit": 1, "CritNoCluster": 1, "Warn": 1, "Both": 1}
		if len(names) != len(want) {
			t.Fatalf("notified %v, want %v", names, want)
		}
		for k, v := range want {
			if names[k] != v {
				t.Fatalf("notified %v, want %v", names, want)
			}
		}
		for _, v := range h.r.Alerts() {
			inhibited := len(v.Status.InhibitedBy) > 0
			wantInh := v.Alert.Labels["alertname"] == "Other" || v.Alert.Labels["alertname"] == "WarnNoCluster" ||
				(v.Alert.Labels["alertname"] == "Warn" && v.Alert.Labels["cluster"] == "a")
			if inhibited != wantInh {
				t.Errorf("%v inhibited=%v, want %v", v.Alert.Labels, inhibited, wantInh)
			}
		}
		// The source resolves: the target is no longer inhibited.
		h.ingest(resolved(src, clock.Now()))
		got = h.advance(5*time.Minute, 6)
		warned := false
		for _, n := range got[4:] {
			if n.GroupLabels["alertname"] == "Warn" && len(n.Alerts) == 2 {
				warned = true
			}
		}
		if !warned {
			t.Fatalf("after the source resolved, notified %v and %v, want Warn with both alerts", got[4].GroupLabels, got[5].GroupLabels)
		}
	})
}

const intervalConfig = `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: [team="night"]
      mute_time_intervals: [day]
    - matchers: [team="day"]
      active_time_intervals: [day]
receivers:
  - name: team
time_intervals:
  - name: day
    time_intervals:
      - times: [{start_time: "08:00", end_time: "18:00"}]
        weekdays: ["monday:friday"]
        days_of_month: ["1:-1"]
        location: UTC
`

func TestTimeIntervals(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		// epoch is Wednesday 10:00 UTC: inside "day".
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, intervalConfig)
		h.ingest(labelled(model.LabelSet{"alertname": "Night", "team": "night"}, epoch),
			labelled(model.LabelSet{"alertname": "Day", "team": "day"}, epoch))
		got := h.advance(30*time.Second, 1)
		if got[0].GroupLabels["alertname"] != "Day" {
			t.Fatalf("notified %v during the day, want Day", got[0].GroupLabels)
		}
		// At 18:00 the mute ends and the active interval ends.
		clock.Advance(8 * time.Hour)
		got = h.advance(5*time.Minute, 2)
		if got[1].GroupLabels["alertname"] != "Night" {
			t.Fatalf("notified %v at night, want Night", got[1].GroupLabels)
		}
	})
}

// TestUTF8Matchers: label names outside the classic charset in route and
// silence matchers, as Alertmanager's UTF-8 parser (the default, with the
// classic parser as fallback) accepts them.
func TestUTF8Matchers(t *testing.T) {
	config.InitMatchers(nil)
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, `
route:
  receiver: team
  group_wait: 30s
  routes:
    - receiver: api
      matchers: ['"service.name"="api"', 'team!~"db|ops"']
receivers:
  - name: team
  - name: api
`)
		h.ingest(labelled(model.LabelSet{"alertname": "Slow", "service.name": "api"}, epoch),
			labelled(model.LabelSet{"alertname": "Slow", "service.name": "web"}, epoch))
		got := h.advance(30*time.Second, 2)
		rcv := map[string]int{}
		for _, n := range got {
			rcv[n.Receiver] += len(n.Alerts)
		}
		if rcv["api"] != 1 || rcv["team"] != 1 {
			t.Fatalf("receivers got %v, want one alert each", rcv)
		}
	})
}

func silences(t *testing.T, r *Router) []*Silence {
	t.Helper()
	sils, err := r.Silences(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sils
}

// Flushes look for silences written by another replica at most every
// silenceCheckInterval, and always see this process's own at once.
func TestSilencesOfOwnAndOtherReplica(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("X", "a", epoch))
		h.advance(30*time.Second, 1) // the flush reads the silences

		// Own silence, then an alert old enough to flush at once: the same
		// instant as the last check, and still muted.
		h.silence(&Silence{Matchers: matchers(t, `{alertname="Y"}`), EndsAt: epoch.Add(time.Hour), CreatedBy: "me", Comment: "own"})
		h.ingest(firing("Y", "a", epoch), firing("Z", "a", clock.Now()))
		h.advance(0, 1)

		// Another replica silences Z; the flush 30s later sees it.
		other := New(Options{DB: db, Clock: clock, Sink: &recorder{}})
		if _, err := other.SetSilence(context.Background(), &Silence{Matchers: matchers(t, `{alertname="Z"}`), EndsAt: epoch.Add(time.Hour), CreatedBy: "other", Comment: "replica"}); err != nil {
			t.Fatal(err)
		}
		h.advance(30*time.Second, 1)
	})
}
