package web

import (
	"net/http"
	"strings"

	"github.com/klaxon-dev/klaxon/rules"
)

// Rules is what the rules API needs of the rule evaluator.
type Rules interface {
	Rules(f rules.RuleFilter) *rules.RuleDiscovery
	Alerts() []*rules.Alert
}

// promResponse is Prometheus's API envelope.
type promResponse struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

// getRules is Prometheus's GET /api/v1/rules: type, rule_name[],
// rule_group[], file[] and exclude_alerts select as in Prometheus.
func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, promResponse{Status: "error", ErrorType: "bad_data", Error: err.Error()})
		return
	}
	f := rules.RuleFilter{
		Type:       strings.ToLower(r.Form.Get("type")),
		RuleNames:  stringSet(r.Form["rule_name[]"]),
		GroupNames: stringSet(r.Form["rule_group[]"]),
		Files:      stringSet(r.Form["file[]"]),
	}
	if f.Type != "" && f.Type != "alert" && f.Type != "record" {
		writeJSON(w, http.StatusBadRequest, promResponse{Status: "error", ErrorType: "bad_data", Error: `invalid parameter "type": not supported value "` + f.Type + `"`})
		return
	}
	switch strings.ToLower(r.Form.Get("exclude_alerts")) {
	case "", "false":
	case "true":
		f.ExcludeAlerts = true
	default:
		writeJSON(w, http.StatusBadRequest, promResponse{Status: "error", ErrorType: "bad_data", Error: `invalid parameter "exclude_alerts"`})
		return
	}
	writeJSON(w, http.StatusOK, promResponse{Status: "success", Data: s.opts.Rules.Rules(f)})
}

// getRuleAlerts is Prometheus's GET /api/v1/alerts.
func (s *Server) getRuleAlerts(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, promResponse{Status: "success", Data: map[string]any{"alerts": s.opts.Rules.Alerts()}})
}

func stringSet(vs []string) map[string]bool {
	if len(vs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}
