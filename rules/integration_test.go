package rules

import (
	"github.com/klaxon-dev/klaxon/internal/testenv"

	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

const liveRules = `groups:
  - name: live
    interval: 1s
    rules:
      - alert: ValueHigh
        expr: klaxon_test_value > 10
        for: 3s
        keep_firing_for: 2s
        labels: {severity: page}
        annotations:
          summary: 'value of {{ $labels.inst }} is {{ $value }}'
          runbook_url: https://runbooks.example.com/value-high
`

// live runs a Manager on the real clock against a real Prometheus.
func live(t *testing.T, db *storage.DB, promURL, rules string, edit ...func(*config.Config)) (*Manager, *recorder) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "live.yml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Rules: config.DefaultRules, Prometheus: config.DefaultPrometheus}
	cfg.Rules.Files = []string{dir}
	cfg.Prometheus.URL = promURL
	for _, e := range edit {
		e(cfg)
	}
	rec := &recorder{}
	m := New(Options{DB: db, Clock: clockwork.NewRealClock(), Router: rec})
	if err := m.ApplyConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, rec
}

// state returns the alert of instance inst of the only rule, or nil.
func state(m *Manager, inst string) *promrules.Alert {
	for _, g := range m.Groups() {
		for _, r := range g.AlertingRules() {
			for _, a := range r.ActiveAlerts() {
				if a.Labels.Get("inst") == inst {
					return a
				}
			}
		}
	}
	return nil
}

func TestAgainstPrometheus(t *testing.T) {
	t.Parallel()
	tg := testenv.NewScrapeTarget(t, "klaxon_test_value")
	tg.Set("x", 1)
	prom := testenv.StartPrometheus(t, tg)
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		m, rec := live(t, db, prom.URL, liveRules)
		inst := "x-" + filepath.Base(t.Name())
		tg.Set(inst, 20)
		waitUntil(t, 20*time.Second, "the alert is pending", func() bool {
			a := state(m, inst)
			return a != nil && a.State == promrules.StatePending
		})
		waitUntil(t, 20*time.Second, "the alert fires", func() bool {
			a := state(m, inst)
			return a != nil && a.State == promrules.StateFiring
		})
		a := state(m, inst)
		if held := a.FiredAt.Sub(a.ActiveAt); held < 3*time.Second || held >= 4*time.Second {
			t.Errorf("fired %s after becoming active, want the first evaluation ≥ for: 3s", held)
		}
		if a.Annotations.Get("summary") != "value of "+inst+" is 20" {
			t.Errorf("summary = %q", a.Annotations.Get("summary"))
		}
		sent := rec.take()
		if len(sent) == 0 || !sent[0].StartsAt.Equal(a.FiredAt) || sent[0].Labels["severity"] != "page" {
			t.Fatalf("want the firing alert sent to the router with startsAt %s, got %v", a.FiredAt, sent)
		}

		tg.Set(inst, 0)
		var kept *promrules.Alert
		waitUntil(t, 20*time.Second, "the alert keeps firing after the condition cleared", func() bool {
			a := state(m, inst)
			if a != nil && !a.KeepFiringSince.IsZero() {
				kept = a
			}
			return kept != nil
		})
		if kept.State != promrules.StateFiring {
			t.Errorf("within keep_firing_for: state %s, want firing", kept.State)
		}
		waitUntil(t, 20*time.Second, "the alert resolves", func() bool { return state(m, inst) == nil })
		var resolved time.Time
		for _, g := range m.Groups() {
			for _, r := range g.AlertingRules() {
				r.ForEachActiveAlert(func(a *promrules.Alert) {
					if a.Labels.Get("inst") == inst {
						resolved = a.ResolvedAt
					}
				})
			}
		}
		if d := resolved.Sub(kept.KeepFiringSince); d < 2*time.Second || d >= 3*time.Second {
			t.Errorf("resolved %s after the condition cleared, want the first evaluation ≥ keep_firing_for: 2s", d)
		}
		waitUntil(t, 10*time.Second, "the resolved alert reaches the router", func() bool {
			for _, s := range rec.take() {
				if s.EndsAt.Equal(resolved) {
					return true
				}
			}
			return false
		})
	})
}
