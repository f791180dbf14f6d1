package rules

import (
	"github.com/klaxon-dev/klaxon/internal/testenv"

	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
)

const diffRules = `groups:
  - name: diff
    interval: 1s
    rules:
      - alert: DiffHigh
        expr: klaxon_test_value{inst="d"} > 10
        for: 3s
        keep_firing_for: 2s
        annotations: {summary: high, runbook_url: https://runbooks.example.com/high}
`

// transitions records when each side was first seen in each state.
type transitions struct {
	mu   sync.Mutex
	seen map[string]time.Time // "klaxon/firing", "prometheus/gone", ...
}

func (tr *transitions) note(side, st string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	k := side + "/" + st
	if _, ok := tr.seen[k]; !ok {
		tr.seen[k] = time.Now()
	}
}

func (tr *transitions) has(k string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	_, ok := tr.seen[k]
	return ok
}

// TestMatchesPrometheusRuler loads the same rule file into Prometheus's
// own ruler and into Klaxon and checks that the alert goes pending, fires
// and resolves on both within one evaluation interval of each other
// (plus the 50ms polling step).
func TestMatchesPrometheusRuler(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "diff.yml")
	if err := os.WriteFile(file, []byte(diffRules), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := testenv.NewScrapeTarget(t, "klaxon_test_value")
	tg.Set("d", 1)
	prom := testenv.StartPrometheus(t, tg, file)
	m, _ := live(t, storagetest.Open(t, "sqlite"), prom.URL, diffRules)

	tr := &transitions{seen: map[string]time.Time{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			tr.note("klaxon", klaxonState(m))
			ps := prometheusState(prom)
			if ps == "none" && tr.has("prometheus/firing") {
				ps = "resolved" // Prometheus lists only active alerts
			}
			tr.note("prometheus", ps)
		}
	})
	defer func() { close(stop); wg.Wait() }()

	tg.Set("d", 20)
	waitUntil(t, 30*time.Second, "both fire", func() bool { return tr.has("klaxon/firing") && tr.has("prometheus/firing") })
	tg.Set("d", 0)
	waitUntil(t, 30*time.Second, "both resolve", func() bool {
		return tr.has("klaxon/resolved") && tr.has("prometheus/resolved")
	})
	const tolerance = time.Second + 100*time.Millisecond
	for _, st := range []string{"pending", "firing", "resolved"} {
		k, p := tr.seen["klaxon/"+st], tr.seen["prometheus/"+st]
		if k.IsZero() || p.IsZero() {
			t.Errorf("%s: klaxon saw it at %v, Prometheus at %v; want both", st, k, p)
			continue
		}
		t.Logf("%-8s klaxon − Prometheus = %s", st, k.Sub(p))
		if d := k.Sub(p).Abs(); d > tolerance {
			t.Errorf("%s: klaxon and Prometheus differ by %s, want ≤ one evaluation interval", st, d)
		}
	}
}

func klaxonState(m *Manager) string {
	for _, g := range m.Groups() {
		for _, r := range g.AlertingRules() {
			seen := false
			st := "none"
			r.ForEachActiveAlert(func(a *promrules.Alert) {
				seen = true
				switch {
				case a.State == promrules.StateInactive:
					st = "resolved"
				default:
					st = a.State.String()
				}
			})
			if seen {
				return st
			}
		}
	}
	return "none"
}

// prometheusState reads the alert's state from Prometheus's /api/v1/alerts,
// where a resolved alert is no longer listed.
func prometheusState(p *testenv.Prometheus) string {
	var r struct {
		Data struct {
			Alerts []struct {
				State string `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := p.Get("/api/v1/alerts", &r); err != nil {
		return "error"
	}
	if len(r.Data.Alerts) == 0 {
		return "none"
	}
	return r.Data.Alerts[0].State
}
