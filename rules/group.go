package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"
)

// Build turns a loaded group into Prometheus's rules.Group, so that the
// evaluator and `klaxon rules test` run Prometheus's own alert state
// machine (for, keep_firing_for, limit, query_offset, resend) and
// templates. defaultInterval applies when the group sets none. It does
// what rules.Manager.LoadGroups does, from Klaxon's loader instead of
// rulefmt.ParseFile, so PrometheusRule manifests load the same way.
//
// With skipRecording, recording rules are listed but not evaluated
// (Klaxon has nowhere to write their samples without remote_write).
func Build(g *Group, defaultInterval time.Duration, externalLabels labels.Labels, externalURL string, opts *promrules.ManagerOptions, skipRecording bool) (*promrules.Group, error) {
	itv := defaultInterval
	if g.Interval != 0 {
		itv = time.Duration(g.Interval)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rs := make([]promrules.Rule, 0, len(g.Rules))
	for i, r := range g.Rules {
		expr, err := promqlParser.ParseExpr(r.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: group %q, rule %d: %w", g.Source, g.Name, i+1, err)
		}
		lbls := promrules.FromMaps(g.Labels, r.Labels)
		if r.Alert != "" {
			// restored=true: Klaxon restores state from its database before
			// the first evaluation (see restore), not from ALERTS_FOR_STATE.
			rs = append(rs, promrules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
				lbls, labels.FromMap(r.Annotations), externalLabels, externalURL, true, logger.With("alert", r.Alert)))
			continue
		}
		rr := promrules.NewRecordingRule(r.Record, expr, lbls)
		if skipRecording {
			rs = append(rs, notEvaluated{rr})
			continue
		}
		rs = append(rs, rr)
	}
	return promrules.NewGroup(promrules.GroupOptions{
		Name:        g.Name,
		File:        g.Source,
		Interval:    itv,
		Limit:       g.Limit,
		Rules:       rs,
		Opts:        opts,
		QueryOffset: (*time.Duration)(g.QueryOffset),
	}), nil
}

// Key identifies a group as Prometheus does: by file and name.
func (g *Group) Key() string { return promrules.GroupKey(g.Source, g.Name) }

// errNotEvaluated is the last error of a recording rule that is loaded
// but not evaluated.
var errNotEvaluated = errors.New("not evaluated: recording rules need prometheus.remote_write")

// notEvaluated is a recording rule that is listed but never evaluated.
type notEvaluated struct {
	*promrules.RecordingRule
}

// Eval does nothing: there is nowhere to write the samples.
func (notEvaluated) Eval(context.Context, time.Duration, time.Time, promrules.QueryFunc, *url.URL, int) (promql.Vector, error) {
	return nil, nil
}

// SetHealth keeps the health unknown: the rule never ran.
func (notEvaluated) SetHealth(promrules.RuleHealth) {}

// Health is always unknown.
func (notEvaluated) Health() promrules.RuleHealth { return promrules.HealthUnknown }

// SetLastError keeps errNotEvaluated.
func (notEvaluated) SetLastError(error) {}

// LastError says why the rule does not run.
func (notEvaluated) LastError() error { return errNotEvaluated }

// Recording returns the wrapped rule, for listing.
func (n notEvaluated) Recording() *promrules.RecordingRule { return n.RecordingRule }

func countSkipped(g *promrules.Group) int {
	n := 0
	for _, r := range g.Rules() {
		if _, ok := r.(notEvaluated); ok {
			n++
		}
	}
	return n
}
