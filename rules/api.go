package rules

import (
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promrules "github.com/prometheus/prometheus/rules"
)

// The types below are the data of Prometheus's GET /api/v1/rules and
// /api/v1/alerts (web/api/v1), so that Grafana and scripts that read
// Prometheus's rules API read Klaxon's unchanged.

// RuleDiscovery is the data of /api/v1/rules.
type RuleDiscovery struct {
	RuleGroups []*RuleGroup `json:"groups"`
	// FileErrors is Klaxon's addition: rule files whose last reload
	// failed (their last good version keeps evaluating).
	FileErrors []FileError `json:"fileErrors,omitempty"`
}

// FileError is one problem of a rule file.
type FileError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// RuleGroup is one group and its rules.
type RuleGroup struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Rules          []any     `json:"rules"`
	Interval       float64   `json:"interval"`
	Limit          int       `json:"limit"`
	EvaluationTime float64   `json:"evaluationTime"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	// LastReloadSuccessful is Klaxon's addition: false while the group's
	// file fails to load and its last good version runs.
	LastReloadSuccessful bool `json:"lastReloadSuccessful"`
}

// AlertingRule is an alerting rule with its alerts.
type AlertingRule struct {
	State          string               `json:"state"`
	Name           string               `json:"name"`
	Query          string               `json:"query"`
	Duration       float64              `json:"duration"`
	KeepFiringFor  float64              `json:"keepFiringFor"`
	Labels         labels.Labels        `json:"labels"`
	Annotations    labels.Labels        `json:"annotations"`
	Alerts         []*Alert             `json:"alerts"`
	Health         promrules.RuleHealth `json:"health"`
	LastError      string               `json:"lastError,omitempty"`
	EvaluationTime float64              `json:"evaluationTime"`
	LastEvaluation time.Time            `json:"lastEvaluation"`
	Type           string               `json:"type"`
}

// RecordingRule is a recording rule.
type RecordingRule struct {
	Name           string               `json:"name"`
	Query          string               `json:"query"`
	Labels         labels.Labels        `json:"labels"`
	Health         promrules.RuleHealth `json:"health"`
	LastError      string               `json:"lastError,omitempty"`
	EvaluationTime float64              `json:"evaluationTime"`
	LastEvaluation time.Time            `json:"lastEvaluation"`
	Type           string               `json:"type"`
}

// Alert is one active alert.
type Alert struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

// RuleFilter selects rules as Prometheus's query parameters do; empty
// sets select everything.
type RuleFilter struct {
	Type          string // "", "alert" or "record"
	RuleNames     map[string]bool
	GroupNames    map[string]bool
	Files         map[string]bool
	ExcludeAlerts bool
}

// Rules returns the loaded groups in Prometheus's API format.
func (m *Manager) Rules(f RuleFilter) *RuleDiscovery {
	res := &RuleDiscovery{RuleGroups: []*RuleGroup{}}
	broken := map[string]bool{}
	for _, d := range m.FileErrors() {
		res.FileErrors = append(res.FileErrors, FileError{File: d.File, Line: d.Line, Message: d.Message})
		broken[d.File] = true
	}
	for _, g := range m.Groups() {
		if (len(f.GroupNames) > 0 && !f.GroupNames[g.Name()]) || (len(f.Files) > 0 && !f.Files[g.File()]) {
			continue
		}
		rg := &RuleGroup{
			Name: g.Name(), File: g.File(), Rules: []any{}, Interval: g.Interval().Seconds(), Limit: g.Limit(),
			EvaluationTime: g.GetEvaluationTime().Seconds(), LastEvaluation: g.GetLastEvaluation(),
			LastReloadSuccessful: !broken[fileOf(g.File())],
		}
		for _, r := range g.Rules() {
			if len(f.RuleNames) > 0 && !f.RuleNames[r.Name()] {
				continue
			}
			if v := apiRule(r, f); v != nil {
				rg.Rules = append(rg.Rules, v)
			}
		}
		if len(rg.Rules) > 0 || (len(f.RuleNames) == 0 && f.Type == "") {
			res.RuleGroups = append(res.RuleGroups, rg)
		}
	}
	return res
}

func apiRule(r promrules.Rule, f RuleFilter) any {
	lastErr := ""
	if err := r.LastError(); err != nil {
		lastErr = err.Error()
	}
	switch rule := r.(type) {
	case *promrules.AlertingRule:
		if f.Type == "record" {
			return nil
		}
		var alerts []*Alert
		if !f.ExcludeAlerts {
			alerts = apiAlerts(rule.ActiveAlerts())
		}
		return AlertingRule{
			State: rule.State().String(), Name: rule.Name(), Query: rule.Query().String(),
			Duration: rule.HoldDuration().Seconds(), KeepFiringFor: rule.KeepFiringFor().Seconds(),
			Labels: rule.Labels(), Annotations: rule.Annotations(), Alerts: alerts, Health: rule.Health(),
			LastError: lastErr, EvaluationTime: rule.GetEvaluationDuration().Seconds(),
			LastEvaluation: rule.GetEvaluationTimestamp(), Type: "alerting",
		}
	default:
		if f.Type == "alert" {
			return nil
		}
		return RecordingRule{
			Name: r.Name(), Query: r.Query().String(), Labels: r.Labels(), Health: r.Health(), LastError: lastErr,
			EvaluationTime: r.GetEvaluationDuration().Seconds(), LastEvaluation: r.GetEvaluationTimestamp(), Type: "recording",
		}
	}
}

func apiAlerts(as []*promrules.Alert) []*Alert {
	out := make([]*Alert, len(as))
	for i, a := range as {
		out[i] = &Alert{
			Labels: a.Labels, Annotations: a.Annotations, State: a.State.String(), ActiveAt: &a.ActiveAt,
			Value: strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			out[i].KeepFiringSince = &a.KeepFiringSince
		}
	}
	return out
}

// Alerts returns the active alerts of every alerting rule, as
// Prometheus's /api/v1/alerts does.
func (m *Manager) Alerts() []*Alert {
	out := []*Alert{}
	for _, g := range m.Groups() {
		for _, r := range g.AlertingRules() {
			out = append(out, apiAlerts(r.ActiveAlerts())...)
		}
	}
	return out
}

// fileOf strips the "#namespace/name" of a PrometheusRule source.
func fileOf(source string) string {
	for i := len(source) - 1; i >= 0; i-- {
		if source[i] == '#' {
			return source[:i]
		}
	}
	return source
}
