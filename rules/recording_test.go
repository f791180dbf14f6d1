package rules

import (
	"github.com/klaxon-dev/klaxon/internal/testenv"

	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
)

const recordingRules = `groups:
  - name: rec
    interval: 1s
    rules:
      - record: klaxon:test_value:doubled
        expr: klaxon_test_value{inst="r"} * 2
`

func TestRecordingRulesNeedRemoteWrite(t *testing.T) {
	t.Parallel()
	tg := testenv.NewScrapeTarget(t, "klaxon_test_value")
	tg.Set("r", 21)
	prom := testenv.StartPrometheus(t, tg)

	t.Run("without remote_write they are listed, not evaluated", func(t *testing.T) {
		m, _ := live(t, storagetest.Open(t, "sqlite"), prom.URL, recordingRules)
		res := m.Rules(RuleFilter{})
		if len(res.RuleGroups) != 1 || len(res.RuleGroups[0].Rules) != 1 {
			t.Fatalf("want the recording rule listed, got %+v", res.RuleGroups)
		}
		r, ok := res.RuleGroups[0].Rules[0].(RecordingRule)
		if !ok || r.Health != "unknown" || !strings.Contains(r.LastError, "not evaluated") || r.Type != "recording" {
			t.Errorf("want health unknown and lastError 'not evaluated', got %+v", res.RuleGroups[0].Rules[0])
		}
		if v := testutil.ToFloat64(m.metrics.notRecorded); v != 1 {
			t.Errorf("klaxon_rule_recording_rules_not_evaluated = %v, want 1", v)
		}
	})

	t.Run("with remote_write their samples reach Prometheus", func(t *testing.T) {
		live(t, storagetest.Open(t, "sqlite"), prom.URL, recordingRules, func(c *config.Config) {
			c.Prometheus.RemoteWrite = []config.RemoteWrite{{URL: prom.URL + "/api/v1/write", Timeout: config.DefaultPrometheus.Timeout}}
		})
		waitUntil(t, 30*time.Second, "Prometheus holds the recorded series", func() bool {
			var r struct {
				Data struct {
					Result []struct {
						Value [2]any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			return prom.Get("/api/v1/query?query=klaxon:test_value:doubled", &r) == nil &&
				len(r.Data.Result) == 1 && r.Data.Result[0].Value[1] == "42"
		})
	})
}
