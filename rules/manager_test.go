package rules

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

const lifecycleRules = `groups:
  - name: api
    interval: 10s
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 30s
        keep_firing_for: 20s
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.instance }} is down'
          runbook_url: https://runbooks.example.com/down
`

// firing drives the world until instance a fires and returns when.
func firing(t *testing.T, w *world) time.Time {
	t.Helper()
	w.src.set("a")
	first := w.tick(1)
	if a := w.alerts("InstanceDown")["a"]; a == nil || a.State != promrules.StatePending || !a.ActiveAt.Equal(first) {
		t.Fatalf("after the first evaluation: want pending since %s, got %+v", first, a)
	}
	w.tick(1)
	w.tick(1)
	if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StatePending {
		t.Fatalf("20s into for: 30s: want pending, got %s", a.State)
	}
	if got := w.router.take(); len(got) != 0 {
		t.Fatalf("pending alerts must not be sent, got %v", got)
	}
	fired := w.tick(1)
	a := w.alerts("InstanceDown")["a"]
	if a.State != promrules.StateFiring || !a.FiredAt.Equal(fired) {
		t.Fatalf("30s after active: want firing at %s, got %s at %s", fired, a.State, a.FiredAt)
	}
	sent := w.router.take()
	if len(sent) != 1 || !sent[0].StartsAt.Equal(fired) || !sent[0].EndsAt.Equal(fired.Add(4*time.Minute)) {
		t.Fatalf("want one alert sent with startsAt %s, endsAt startsAt+4·max(10s, 1m); got %v", fired, sent)
	}
	if sent[0].Labels["severity"] != "page" || sent[0].Annotations["summary"] != "a is down" || sent[0].Labels["alertname"] != "InstanceDown" {
		t.Errorf("labels or templates wrong: %v %v", sent[0].Labels, sent[0].Annotations)
	}
	return fired
}

func TestLifecycle(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWorld(t, db)
		w.writeRules("api.yml", lifecycleRules)
		w.start(1)
		firing(t, w)

		w.src.set() // the condition clears: keep_firing_for 20s holds it
		since := w.tick(1)
		w.tick(1)
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateFiring || !a.KeepFiringSince.Equal(since) {
			t.Fatalf("within keep_firing_for: want firing, keeping since %s; got %s since %s", since, a.State, a.KeepFiringSince)
		}
		resolved := w.tick(1)
		a := w.alerts("InstanceDown")["a"]
		if a.State != promrules.StateInactive || !a.ResolvedAt.Equal(resolved) {
			t.Fatalf("20s after the condition cleared: want resolved at %s, got %s at %s", resolved, a.State, a.ResolvedAt)
		}
		sent := w.router.take()
		if len(sent) != 1 || !sent[0].EndsAt.Equal(resolved) {
			t.Fatalf("want the resolved alert sent with endsAt %s, got %v", resolved, sent)
		}
	})
}

func TestRestartKeepsFiringAndKeepFiring(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWorld(t, db)
		w.writeRules("api.yml", lifecycleRules)
		w.start(1)
		fired := firing(t, w)
		w.stop()

		w.start(1) // a new process on the same database
		a := w.alerts("InstanceDown")["a"]
		if a == nil || a.State != promrules.StateFiring || !a.FiredAt.Equal(fired) {
			t.Fatalf("after restart, before any evaluation: want firing since %s, got %+v", fired, a)
		}
		w.tick(1)
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateFiring || !a.FiredAt.Equal(fired) {
			t.Fatalf("after restart: want still firing since %s, got %s since %s", fired, a.State, a.FiredAt)
		}
		if got := w.router.take(); len(got) != 0 {
			t.Fatalf("a restart must not re-send before the resend delay: got %v", got)
		}

		w.src.set()
		since := w.tick(1)
		w.stop()
		w.start(1)
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateFiring || !a.KeepFiringSince.Equal(since) {
			t.Fatalf("after restart in keep_firing_for: want firing, keeping since %s; got %s since %s", since, a.State, a.KeepFiringSince)
		}
		w.tick(1)
		resolved := w.tick(1)
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateInactive || !a.ResolvedAt.Equal(resolved) {
			t.Fatalf("keep_firing_for must end 20s after %s as without the restart; got %s at %s", since, a.State, a.ResolvedAt)
		}
	})
}

func TestOutageLongerThanToleranceStartsFresh(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWorld(t, db)
		w.writeRules("api.yml", lifecycleRules)
		w.start(1)
		firing(t, w)
		w.stop()
		w.clock.Advance(2 * time.Hour) // default tolerance 1h
		w.start(1)
		if got := w.alerts("InstanceDown"); len(got) != 0 {
			t.Fatalf("after a 2h outage state must start fresh, got %v", got)
		}
		w.tick(1)
		if a := w.alerts("InstanceDown")["a"]; a == nil || a.State != promrules.StatePending {
			t.Fatalf("after a 2h outage the alert starts pending again, got %+v", a)
		}
	})
}

func TestQueryFailureKeepsAlertsFiring(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWorld(t, db)
		w.writeRules("api.yml", lifecycleRules)
		w.start(1)
		fired := firing(t, w)
		w.src.fail("connection refused")
		var resent int
		for range 12 { // two minutes: longer than endsAt's 4 intervals, past one resend delay
			w.tick(1)
			for _, s := range w.router.take() {
				resent++
				if !s.StartsAt.Equal(fired) || !s.EndsAt.After(w.clock.Now()) {
					t.Errorf("while Prometheus fails, re-sent alerts stay firing: got %v–%v at %s", s.StartsAt, s.EndsAt, w.clock.Now())
				}
			}
		}
		r := w.rule("InstanceDown")
		if r.Health() != promrules.HealthBad || r.LastError() == nil || !strings.Contains(r.LastError().Error(), "connection refused") {
			t.Errorf("rule health: want err with the reason, got %s %v", r.Health(), r.LastError())
		}
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateFiring || !a.FiredAt.Equal(fired) {
			t.Errorf("the alert must keep its state, got %s", a.State)
		}
		if resent == 0 {
			t.Error("the firing alert must be re-sent on the resend delay while queries fail")
		}
		if n := testutil.ToFloat64(w.m.metrics.queryFailures); n < 12 {
			t.Errorf("klaxon_rule_query_failures_total = %v, want ≥ 12", n)
		}
		w.src.set() // Prometheus back; condition gone: keep_firing_for then resolve
		w.tick(1)
		w.tick(1)
		w.tick(1)
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateInactive {
			t.Errorf("after Prometheus is back and the condition cleared: want resolved, got %s", a.State)
		}
	})
}

func TestStateSavedOnEachStore(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWorld(t, db)
		w.writeRules("api.yml", lifecycleRules)
		w.start(1)
		firing(t, w)
		key := promrules.GroupKey(w.dir+"/api.yml", "api")
		rows, err := loadGroup(context.Background(), db, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("want one stored alert, got %v", rows)
		}
		for _, r := range rows {
			if r.State != promrules.StateFiring || r.Labels.Get("instance") != "a" || r.Annotations.Get("summary") != "a is down" {
				t.Errorf("stored row: %+v", r)
			}
		}
	})
}

// TestRestartPendingAsPrometheus: a pending alert is restored as
// Prometheus restores `for` state: a hold shorter than the grace period
// starts again after the restart, so nothing fires early.
func TestRestartPendingAsPrometheus(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWorld(t, db)
		w.writeRules("api.yml", lifecycleRules)
		w.start(1)
		w.src.set("a")
		w.tick(1)
		w.tick(1)
		w.stop()
		w.start(1)
		restart := w.clock.Now()
		a := w.alerts("InstanceDown")["a"]
		if a == nil || a.State != promrules.StatePending || !a.ActiveAt.Equal(restart) {
			t.Fatalf("want pending again since the restart at %s, got %+v", restart, a)
		}
		w.tick(1)
		w.tick(1)
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StatePending {
			t.Fatalf("20s after the restart: want still pending, got %s", a.State)
		}
		w.tick(1)
		w.tick(1)
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateFiring {
			t.Fatalf("once for: 30s passed since the restart: want firing, got %s", a.State)
		}
	})
}

func TestPendingAdjustMatchesPrometheus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	down, now := t0.Add(10*time.Minute), t0.Add(15*time.Minute)
	adj := pendingAdjust{now: now, downAt: down, grace: 10 * time.Minute}
	for _, tc := range []struct {
		name     string
		activeAt time.Time
		hold     time.Duration
		want     time.Time
	}{
		{"would have fired", t0, 5 * time.Minute, t0},
		{"hold below grace restarts", t0.Add(8 * time.Minute), 5 * time.Minute, now},
		{"remaining below grace: one grace from now", t0, 15 * time.Minute, now.Add(10 * time.Minute).Add(-15 * time.Minute)},
		{"outage does not count", t0, time.Hour, t0.Add(5 * time.Minute)},
	} {
		if got := adj.activeAt(tc.activeAt, tc.hold); !got.Equal(tc.want) {
			t.Errorf("%s: activeAt %s, want %s", tc.name, got, tc.want)
		}
	}
	if got := (pendingAdjust{now: now}).activeAt(t0, time.Hour); !got.Equal(t0) {
		t.Errorf("without an outage (takeover) activeAt stays, got %s", got)
	}
}

// TestPrometheusRuleManifestsEvaluate: groups from PrometheusRule
// manifests evaluate and keep their state across restarts like any other.
func TestPrometheusRuleManifestsEvaluate(t *testing.T) {
	db := storagetest.Open(t, "sqlite")
	w := newWorld(t, db)
	w.writeRules("api.yaml", `apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: api, namespace: prod}
spec:
  groups:
`+indent(strings.TrimPrefix(lifecycleRules, "groups:\n"), "  "))
	w.start(1)
	fired := firing(t, w)
	if g := w.m.Groups()[0]; g.File() != w.dir+"/api.yaml#prod/api" {
		t.Errorf("a manifest's groups are keyed by file#namespace/name, got %s", g.File())
	}
	w.stop()
	w.start(1)
	if a := w.alerts("InstanceDown")["a"]; a == nil || a.State != promrules.StateFiring || !a.FiredAt.Equal(fired) {
		t.Fatalf("after restart: want firing since %s, got %+v", fired, a)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
