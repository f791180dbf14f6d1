package rules

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"
)

// restore puts stored alert state into a new group before its first
// evaluation, so that a firing alert is still firing after a restart
// (Prometheus instead restores only `for` from ALERTS_FOR_STATE, which
// would page again after every restart of an external evaluator).
//
// Prometheus's AlertingRule keeps its alerts private, and the only ways
// in are its own evaluation and Group.CopyState, which is how state
// survives a reload. So restore builds a donor group of the same rules,
// evaluates each donor once against the stored alerts as the query
// result (yielding alerts with the same labels, hence the same keys),
// overwrites the donors' alerts with the stored state, and copies the
// state over with CopyState. It returns how many alerts were restored.
func restore(ctx context.Context, g *promrules.Group, rows map[rowKey]alertRow, b buildInfo, adj pendingAdjust, logger *slog.Logger) int {
	if len(rows) == 0 {
		return 0
	}
	byRule := map[string][]alertRow{}
	for k, r := range rows {
		byRule[k.Rule] = append(byRule[k.Rule], r)
	}
	keys := ruleKeys(g)
	var donors []promrules.Rule
	restored := 0
	for _, r := range g.Rules() {
		ar, ok := r.(*promrules.AlertingRule)
		if !ok {
			continue
		}
		stored := byRule[keys[ar]]
		donor := promrules.NewAlertingRule(ar.Name(), ar.Query(), ar.HoldDuration(), ar.KeepFiringFor(),
			ar.Labels(), ar.Annotations(), b.externalLabels, b.externalURL, true, slog.New(slog.DiscardHandler))
		donors = append(donors, donor)
		if len(stored) == 0 {
			continue
		}
		restored += fill(ctx, donor, stored, adj, logger)
	}
	from := promrules.NewGroup(promrules.GroupOptions{
		Name: g.Name(), File: g.File(), Interval: g.Interval(), Rules: donors,
		Opts: &promrules.ManagerOptions{Metrics: promrules.NewGroupMetrics(nil)},
	})
	g.CopyState(from)
	return restored
}

// fill makes donor hold exactly the stored alerts.
func fill(ctx context.Context, donor *promrules.AlertingRule, stored []alertRow, adj pendingAdjust, logger *slog.Logger) int {
	expr := donor.Query().String()
	query := func(_ context.Context, q string, t time.Time) (promql.Vector, error) {
		if q != expr {
			return nil, nil // a template's query(): nothing to say here
		}
		vec := make(promql.Vector, 0, len(stored))
		for _, r := range stored {
			vec = append(vec, promql.Sample{Metric: r.Labels, T: t.UnixMilli(), F: r.Value})
		}
		return vec, nil
	}
	if _, err := donor.Eval(ctx, 0, adj.now, query, &url.URL{}, 0); err != nil {
		logger.Warn("Restoring alert state failed", "alert", donor.Name(), "err", err)
		return 0
	}
	byHash := map[uint64]alertRow{}
	for _, r := range stored {
		byHash[r.Labels.Hash()] = r
	}
	n := 0
	donor.ForEachActiveAlert(func(a *promrules.Alert) {
		r, ok := byHash[a.Labels.Hash()]
		if !ok || !labels.Equal(a.Labels, r.Labels) {
			return
		}
		a.State, a.Value, a.Annotations = r.State, r.Value, r.Annotations
		a.ActiveAt, a.FiredAt, a.ResolvedAt = r.ActiveAt, r.FiredAt, r.ResolvedAt
		a.LastSentAt, a.ValidUntil, a.KeepFiringSince = r.LastSentAt, r.ValidUntil, r.KeepFiringSince
		if a.State == promrules.StatePending {
			a.ActiveAt = adj.activeAt(a.ActiveAt, donor.HoldDuration())
		}
		delete(byHash, a.Labels.Hash())
		n++
	})
	for h := range byHash {
		// The rule's label templates turned the stored labels into others:
		// that alert starts afresh.
		logger.Warn("Alert state not restored: the rule no longer yields its labels", "alert", donor.Name(), "hash", strconv.FormatUint(h, 16))
	}
	return n
}

// pendingAdjust moves a restored pending alert's activeAt as Prometheus's
// RestoreForState does, so that time spent down does not count towards
// `for` and a restored alert fires no sooner than the grace period. Firing
// alerts are not touched: they stay firing.
type pendingAdjust struct {
	now    time.Time
	downAt time.Time // last evaluation before the outage; zero: no outage
	grace  time.Duration
}

func (p pendingAdjust) activeAt(activeAt time.Time, hold time.Duration) time.Time {
	if p.downAt.IsZero() {
		return activeAt
	}
	remaining := hold - p.downAt.Sub(activeAt)
	switch {
	case remaining <= 0:
		return activeAt // it would have fired: fire at the next evaluation
	case hold < p.grace:
		return p.now // short holds start again
	case remaining < p.grace:
		return p.now.Add(p.grace).Add(-hold) // fires one grace period from now
	default:
		return activeAt.Add(p.now.Sub(p.downAt)) // the outage does not count
	}
}
