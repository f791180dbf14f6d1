package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/klaxon-dev/klaxon/rules"
)

type stubRules struct{ got rules.RuleFilter }

func (s *stubRules) Rules(f rules.RuleFilter) *rules.RuleDiscovery {
	s.got = f
	return &rules.RuleDiscovery{RuleGroups: []*rules.RuleGroup{{Name: "g", File: "f.yml", Rules: []any{}}}}
}

func (s *stubRules) Alerts() []*rules.Alert { return []*rules.Alert{{State: "firing", Value: "1e+00"}} }

func TestRulesAPIUsesPrometheusEnvelope(t *testing.T) {
	st := &stubRules{}
	srv := asAdmin(t, Options{Rules: st})
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	code, body := get("/api/v1/rules?type=alert&rule_group[]=g&file[]=f.yml&rule_name[]=A&exclude_alerts=true")
	if code != http.StatusOK || body["status"] != "success" {
		t.Fatalf("GET /api/v1/rules: %d %v", code, body)
	}
	groups := body["data"].(map[string]any)["groups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["file"] != "f.yml" {
		t.Errorf("data.groups as Prometheus: got %v", groups)
	}
	if f := st.got; f.Type != "alert" || !f.GroupNames["g"] || !f.Files["f.yml"] || !f.RuleNames["A"] || !f.ExcludeAlerts {
		t.Errorf("query parameters select as in Prometheus, got %+v", f)
	}
	if code, body := get("/api/v1/rules?type=bogus"); code != http.StatusBadRequest || body["errorType"] != "bad_data" {
		t.Errorf("a bad type: want 400 bad_data, got %d %v", code, body)
	}
	code, body = get("/api/v1/alerts")
	alerts := body["data"].(map[string]any)["alerts"].([]any)
	if code != http.StatusOK || len(alerts) != 1 || alerts[0].(map[string]any)["state"] != "firing" {
		t.Errorf("GET /api/v1/alerts: %d %v", code, body)
	}
}
