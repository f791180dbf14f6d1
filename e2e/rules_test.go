package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// rulesConfig routes to the scenario's webhook with a long
// repeat_interval, so that any notification after the first is a re-page.
const rulesConfig = `route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
rules:
  files: [%s]
prometheus:
  url: %s
  external_labels: {cluster: e2e}
`

const e2eRules = `groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: ValueHigh
        expr: klaxon_e2e_value{inst="%s"} > 10
        for: 2s
        labels: {severity: page}
        annotations:
          summary: 'value is {{ $value }}'
          runbook_url: https://runbooks.example.com/value-high
`

// promRules is the part of Prometheus's /api/v1/rules answer the stories
// read.
type promRules struct {
	Status string `json:"status"`
	Data   struct {
		Groups []struct {
			Name                 string `json:"name"`
			LastReloadSuccessful bool   `json:"lastReloadSuccessful"`
			Rules                []struct {
				Name   string `json:"name"`
				State  string `json:"state"`
				Health string `json:"health"`
				Alerts []struct {
					State    string    `json:"state"`
					ActiveAt time.Time `json:"activeAt"`
				} `json:"alerts"`
			} `json:"rules"`
		} `json:"groups"`
		FileErrors []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"fileErrors"`
	} `json:"data"`
}

func (k *klaxon) rules(t *testing.T) promRules {
	t.Helper()
	status, body := k.get(t, "/api/v1/rules")
	var r promRules
	if status != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Status != "success" {
		t.Fatalf("GET /api/v1/rules: %d %s", status, body)
	}
	return r
}

// alertState is the state and activeAt of the only alert, or "".
func (r promRules) alertState() (string, time.Time) {
	for _, g := range r.Data.Groups {
		for _, rl := range g.Rules {
			for _, a := range rl.Alerts {
				return a.State, a.ActiveAt
			}
		}
	}
	return "", time.Time{}
}

// TestRulesFirePageSurviveRestartAndBrokenReload: a rule evaluated against
// a real Prometheus pages once; after a restart the alert is still firing
// with no second page; a broken rule file is reported with its line while
// the last good version keeps evaluating.
func TestRulesFirePageSurviveRestartAndBrokenReload(t *testing.T) {
	tg := testenv.NewScrapeTarget(t, "klaxon_e2e_value")
	tg.Set("a", 1)
	promURL := testenv.StartPrometheus(t, tg).URL
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		rulesDir := filepath.Join(e.dir, "rules")
		if err := os.MkdirAll(rulesDir, 0o750); err != nil {
			t.Fatal(err)
		}
		inst := "a-" + store
		rules := fmt.Sprintf(e2eRules, inst)
		ruleFile := filepath.Join(rulesDir, "e2e.yml")
		if err := os.WriteFile(ruleFile, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		e.writeConfig(fmt.Sprintf(rulesConfig, e.hook.URL()+"/hook", rulesDir, promURL))
		k := e.start()
		tg.Set(inst, 20)
		got := e.hook.waitCount(t, 1)
		if got[0].Status != "firing" || got[0].CommonLabels["alertname"] != "ValueHigh" || got[0].CommonLabels["cluster"] != "e2e" {
			t.Fatalf("want ValueHigh firing with the external label, got %+v", got[0].payload)
		}
		state, activeAt := k.rules(t).alertState()
		if state != "firing" {
			t.Fatalf("rules API: alert state %q, want firing", state)
		}

		k.restart()
		if st, at := k.rules(t).alertState(); st != "firing" || !at.Equal(activeAt) {
			t.Fatalf("right after restart: want firing since %s, got %q since %s", activeAt, st, at)
		}
		e.hook.quietFor(t, 3*time.Second, 1)

		if err := os.WriteFile(ruleFile, []byte(strings.Replace(rules, "> 10", "> > 10", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if status, body := k.post(t, "/-/reload", ""); status != http.StatusOK {
			t.Fatalf("POST /-/reload: %d %s", status, body)
		}
		r := k.rules(t)
		if len(r.Data.FileErrors) != 1 || r.Data.FileErrors[0].Line != 6 || !strings.HasSuffix(r.Data.FileErrors[0].File, "e2e.yml") {
			t.Fatalf("want the error at e2e.yml:6 in the rules API, got %+v", r.Data.FileErrors)
		}
		if len(r.Data.Groups) != 1 || r.Data.Groups[0].LastReloadSuccessful {
			t.Fatalf("the last good group keeps running, marked as failed to reload: %+v", r.Data.Groups)
		}
		if v, ok := k.metric(t, "klaxon_rule_group_last_reload_successful"); !ok || v != 0 {
			t.Errorf("klaxon_rule_group_last_reload_successful = %v (exposed %v), want 0", v, ok)
		}
		tg.Set(inst, 0)
		resolved := e.hook.waitCount(t, 2)
		if resolved[1].Status != "resolved" {
			t.Fatalf("the last good rules keep evaluating: want the alert resolved, got %+v", resolved[1].payload)
		}
	})
}

func TestRulesCheckCLI(t *testing.T) {
	e := &env{t: t, bin: testenv.Binary(t)}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	lint := filepath.Join(dir, "lint.yml")
	if err := os.WriteFile(bad, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lint, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.cli(t, "rules", "check", bad); r.code != 1 || !strings.Contains(r.stderr, bad+":5:") {
		t.Errorf("a broken file: want exit 1 and %s:5 in the output, got %s", bad, r)
	}
	if r := e.cli(t, "rules", "check", lint); r.code != 0 || !strings.Contains(r.stderr, "summary") {
		t.Errorf("lint only: want exit 0 with a warning about summary, got %s", r)
	}
	if r := e.cli(t, "rules", "check", "--lint-fatal", lint); r.code != 3 {
		t.Errorf("--lint-fatal: want exit 3, got %s", r)
	}
	corpus := filepath.Join("..", "rules", "testdata", "unittest")
	junit := filepath.Join(dir, "junit.xml")
	if r := e.cli(t, "rules", "test", "--junit", junit, filepath.Join(corpus, "pass.yml")); r.code != 0 || !strings.Contains(r.stdout, "SUCCESS") {
		t.Errorf("rules test on a passing file: want exit 0 and SUCCESS, got %s", r)
	}
	if _, err := os.Stat(junit); err != nil {
		t.Errorf("--junit writes the report: %v", err)
	}
	if r := e.cli(t, "rules", "test", filepath.Join(corpus, "fail_expr.yml")); r.code != 1 || !strings.Contains(r.stderr, "FAILED") {
		t.Errorf("rules test on a failing file: want exit 1 and FAILED, got %s", r)
	}
}
