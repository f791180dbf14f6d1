package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/klaxon-dev/klaxon/rules"
)

func init() {
	uiPageRoutes = append(uiPageRoutes, func(s *Server, r chi.Router) {
		r.Get("/rules", s.uiRules)
	})
}

// rulesPage is the data of the rules page.
type rulesPage struct {
	Groups     []uiRuleGroup
	FileErrors []rules.FileError
	// Configured is false when Klaxon evaluates no rules at all.
	Configured bool
}

type uiRuleGroup struct {
	Name, File     string
	Interval       time.Duration
	LastEvaluation time.Time
	EvaluationTime time.Duration
	// Reloaded is false while the group's file fails to load and its last
	// good version keeps running.
	Reloaded bool
	Rules    []uiRule
	// Health sums up the rules: ok, err or unknown (not evaluated yet).
	Health string
}

type uiRule struct {
	Kind      string // alerting or recording
	Name      string
	Query     string
	GraphURL  string
	State     string // alerting: inactive, pending, firing
	For       time.Duration
	Labels    map[string]string
	Health    string
	LastError string
	LastEval  time.Time
	EvalTime  time.Duration
	// Alerts are the first maxRuleAlerts active alerts; MoreAlerts
	// counts the rest.
	Alerts     []uiRuleAlert
	MoreAlerts int
	// AlertsFilter selects the rule's alerts on the alerts page.
	AlertsFilter string
	Firing       int
	PendingCnt   int
}

// maxRuleAlerts bounds the alerts listed under a rule: a rule with
// thousands of alerts must not make the page unreadable (the alerts page
// shows them all).
const maxRuleAlerts = 10

type uiRuleAlert struct {
	Labels   map[string]string
	State    string
	ActiveAt time.Time
	Value    string
}

func (s *Server) uiRules(w http.ResponseWriter, r *http.Request) {
	p := &rulesPage{}
	if s.opts.Rules != nil {
		p.Configured = true
		d := s.opts.Rules.Rules(rules.RuleFilter{})
		p.FileErrors = d.FileErrors
		prom := ""
		if s.opts.PrometheusURL != nil {
			prom = strings.TrimRight(s.opts.PrometheusURL(), "/")
		}
		for _, g := range d.RuleGroups {
			p.Groups = append(p.Groups, newUIRuleGroup(g, prom))
		}
	}
	s.renderPage(w, r, http.StatusOK, "rules", &uiPage{Title: "Rules", Nav: "rules", Live: uiAlertsLiveEvery, Data: p})
}

func newUIRuleGroup(g *rules.RuleGroup, prom string) uiRuleGroup {
	ug := uiRuleGroup{
		Name: g.Name, File: g.File, Interval: seconds(g.Interval), LastEvaluation: g.LastEvaluation,
		EvaluationTime: seconds(g.EvaluationTime), Reloaded: g.LastReloadSuccessful, Health: "ok",
	}
	unknown := 0
	for _, raw := range g.Rules {
		var ur uiRule
		switch rule := raw.(type) {
		case rules.AlertingRule:
			ur = uiRule{
				Kind: "alerting", Name: rule.Name, Query: rule.Query, State: rule.State, For: seconds(rule.Duration),
				Labels: promLabelMap(rule.Labels), Health: string(rule.Health), LastError: rule.LastError,
				LastEval: rule.LastEvaluation, EvalTime: seconds(rule.EvaluationTime),
				AlertsFilter: equalityMatchersOf(map[string]string{"alertname": rule.Name}),
			}
			for _, a := range rule.Alerts {
				ua := uiRuleAlert{Labels: promLabelMap(a.Labels), State: a.State, Value: readableValue(a.Value)}
				if a.ActiveAt != nil {
					ua.ActiveAt = *a.ActiveAt
				}
				switch a.State {
				case "firing":
					ur.Firing++
				case "pending":
					ur.PendingCnt++
				}
				if len(ur.Alerts) < maxRuleAlerts {
					ur.Alerts = append(ur.Alerts, ua)
				} else {
					ur.MoreAlerts++
				}
			}
		case rules.RecordingRule:
			ur = uiRule{
				Kind: "recording", Name: rule.Name, Query: rule.Query, Labels: promLabelMap(rule.Labels),
				Health: string(rule.Health), LastError: rule.LastError, LastEval: rule.LastEvaluation,
				EvalTime: seconds(rule.EvaluationTime),
			}
		default:
			continue
		}
		if prom != "" {
			ur.GraphURL = prom + "/graph?g0.expr=" + url.QueryEscape(ur.Query) + "&g0.tab=1"
		}
		switch ur.Health {
		case "err":
			ug.Health = "err"
		case "ok":
		default:
			unknown++
		}
		ug.Rules = append(ug.Rules, ur)
	}
	if ug.Health == "ok" && unknown > 0 {
		ug.Health = "unknown"
	}
	return ug
}

// readableValue writes the API's sample value (4.2e+01) as people read
// it (42).
func readableValue(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func promLabelMap(ls labels.Labels) map[string]string {
	if ls.IsEmpty() {
		return nil
	}
	return ls.Map()
}

// Took is how long the group's last evaluation took, to the millisecond.
func (g uiRuleGroup) Took() string { return preciseDuration(g.EvaluationTime) }

// Took is how long the rule's last evaluation took, to the millisecond.
func (r uiRule) Took() string { return preciseDuration(r.EvalTime) }

// preciseDuration writes short durations readably: 850µs, 12.3ms, 1.2s.
func preciseDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}
