package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/rules"
)

// fakeRules is the rule evaluator's state as the rules page reads it.
type fakeRules struct{ d *rules.RuleDiscovery }

func (f fakeRules) Rules(rules.RuleFilter) *rules.RuleDiscovery { return f.d }
func (f fakeRules) Alerts() []*rules.Alert                      { return nil }

func TestUIRulesPage(t *testing.T) {
	active := uiNow.Add(-5 * time.Minute)
	d := &rules.RuleDiscovery{
		RuleGroups: []*rules.RuleGroup{{
			Name: "disk", File: "/etc/klaxon/rules/disk.yml", Interval: 30, EvaluationTime: 0.0123,
			LastEvaluation: uiNow.Add(-10 * time.Second), LastReloadSuccessful: true,
			Rules: []any{
				rules.AlertingRule{
					State: "firing", Name: "DiskFull", Query: `node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.05`,
					Duration: 300, Labels: labels.FromStrings("severity", "critical"), Health: promrules.HealthGood,
					EvaluationTime: 0.002, LastEvaluation: uiNow.Add(-10 * time.Second), Type: "alerting",
					Alerts: []*rules.Alert{{Labels: labels.FromStrings("alertname", "DiskFull", "instance", "db-1"), State: "firing", ActiveAt: &active, Value: "0.03"}},
				},
				rules.RecordingRule{
					Name: "job:up:sum", Query: "sum by (job) (up)", Health: promrules.HealthBad,
					LastError: `query failed: <script>x</script>`, Type: "recording",
				},
			},
		}},
		FileErrors: []rules.FileError{{File: "/etc/klaxon/rules/broken.yml", Line: 7, Message: "bad expr"}},
	}
	s := New(Options{
		Rules: fakeRules{d}, Now: func() time.Time { return uiNow },
		PrometheusURL: func() string { return "https://prometheus.example/" },
	})
	status, body := uiGet(t, s, "/rules")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`data-group="disk"`, "/etc/klaxon/rules/disk.yml", "every 30s", "took 12.3ms",
		"alert: DiskFull", "for 5m", `<span class="health-err" title="health">err</span>`,
		"node_filesystem_avail_bytes / node_filesystem_size_bytes &lt; 0.05",
		`href="https://prometheus.example/graph?g0.expr=node_filesystem_avail_bytes&#43;%2F&#43;node_filesystem_size_bytes&#43;%3C&#43;0.05&amp;g0.tab=1"`,
		"<b>1</b> active alert · 1 firing", `<b>instance</b>="db-1"`,
		"query failed: &lt;script&gt;x&lt;/script&gt;",
		"/etc/klaxon/rules/broken.yml:7", "bad expr",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("rules page lacks %q", want)
		}
	}
	// The group is as healthy as its worst rule.
	if !strings.Contains(body, `<b>disk</b> <span class="health-err">err</span>`) {
		t.Error("group health is not err")
	}
}

func TestUIRulesWithoutEvaluator(t *testing.T) {
	s := New(Options{Now: func() time.Time { return uiNow }})
	_, body := uiGet(t, s, "/rules")
	if !strings.Contains(body, "Klaxon evaluates no rules") {
		t.Fatalf("no hint how to configure rules:\n%s", body)
	}
}

func TestPreciseDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 850 * time.Microsecond: "850µs", 12345 * time.Microsecond: "12.3ms", 1234 * time.Millisecond: "1.2s"} {
		if got := preciseDuration(d); got != want {
			t.Errorf("preciseDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// A rule with many alerts lists a few and points at the alerts page.
func TestUIRulesManyAlerts(t *testing.T) {
	rule := rules.AlertingRule{State: "firing", Name: "InstanceDown", Query: "up == 0", Health: promrules.HealthGood, Type: "alerting"}
	for i := range maxRuleAlerts + 2 {
		rule.Alerts = append(rule.Alerts, &rules.Alert{Labels: labels.FromStrings("alertname", "InstanceDown", "instance", fmt.Sprintf("web-%d", i)), State: "firing"})
	}
	d := &rules.RuleDiscovery{RuleGroups: []*rules.RuleGroup{{Name: "up", Rules: []any{rule}}}}
	s := New(Options{Rules: fakeRules{d}, Now: func() time.Time { return uiNow }})
	_, body := uiGet(t, s, "/rules")
	if got := strings.Count(body, `<li class="alert">`); got != maxRuleAlerts {
		t.Errorf("%d alerts listed, want %d", got, maxRuleAlerts)
	}
	if !strings.Contains(body, "and 2 more") || !strings.Contains(strings.ToLower(body), "/alerts?filter=%7balertname%3d%22instancedown%22%7d") {
		t.Errorf("no pointer to the other alerts")
	}
}
