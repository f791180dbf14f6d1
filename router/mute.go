package router

import (
	"slices"
	"time"

	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
)

// newIntervener collects the named time intervals of both config sections
// (the deprecated mute_time_intervals and time_intervals) for Alertmanager's
// own Intervener.
func newIntervener(cfg *amconfig.Config) *timeinterval.Intervener {
	named := map[string][]timeinterval.TimeInterval{}
	for _, ti := range cfg.MuteTimeIntervals {
		named[ti.Name] = ti.TimeIntervals
	}
	for _, ti := range cfg.TimeIntervals {
		named[ti.Name] = ti.TimeIntervals
	}
	return timeinterval.NewIntervener(named)
}

// routeMutedLocked reports whether the route's time intervals hold back
// every notification at now: inside a mute_time_interval, or outside all of
// its active_time_intervals. The config parser checked that the names
// exist, so an error here cannot happen; it is treated as not muted so
// that a bug pages rather than hides.
func (r *Router) routeMutedLocked(opts *dispatch.RouteOpts, now time.Time) bool {
	if len(opts.MuteTimeIntervals) > 0 {
		if muted, _, err := r.intervals.Mutes(opts.MuteTimeIntervals, now); err == nil && muted {
			return true
		}
	}
	if len(opts.ActiveTimeIntervals) > 0 {
		if in, err := r.intervals.ContainsTime(opts.ActiveTimeIntervals, now); err == nil && !in {
			return true
		}
	}
	return false
}

// muteLocked runs Alertmanager's muting stages in their order (inhibition,
// time intervals, silences) over a flush's alerts and returns those left
// to notify. Alertmanager stops the pipeline when none are left, so that
// nothing is sent and the notification log is left alone.
func (r *Router) muteLocked(alerts []*alert.Alert, opts *dispatch.RouteOpts, now time.Time) []*alert.Alert {
	out := alerts[:0:0]
	for _, a := range alerts {
		if _, inhibited := r.inhibit.inhibitedBy(a.Labels, now); inhibited {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 || r.routeMutedLocked(opts, now) {
		return nil
	}
	kept := out[:0]
	for _, a := range out {
		if len(r.silencedByLocked(a.Labels, now)) == 0 {
			kept = append(kept, a)
		}
	}
	return kept
}

// statusLocked is the alert's status as Alertmanager's API reports it,
// worked out at now as Alertmanager 0.25's API does before answering.
func (r *Router) statusLocked(lset model.LabelSet, now time.Time) alert.AlertStatus {
	st := alert.AlertStatus{State: alert.AlertStateActive, SilencedBy: []string{}, InhibitedBy: []string{}}
	if fp, ok := r.inhibit.inhibitedBy(lset, now); ok {
		st.InhibitedBy = []string{fp.String()}
	}
	if ids := r.silencedByLocked(lset, now); len(ids) > 0 {
		st.SilencedBy = ids
	}
	if len(st.InhibitedBy) > 0 || len(st.SilencedBy) > 0 {
		st.State = alert.AlertStateSuppressed
	}
	return st
}

// AlertView is an alert as the API shows it.
type AlertView struct {
	// Alert is a copy; changing it changes nothing in the router.
	Alert     *alert.Alert
	Status    alert.AlertStatus
	Receivers []string
}

// GroupView is an aggregation group as the API shows it.
type GroupView struct {
	Labels   model.LabelSet
	Receiver string
	RouteID  string
	Alerts   []AlertView
}

// Alerts returns the alerts that have not resolved, with their status and
// the receivers of every route they match.
func (r *Router) Alerts() []AlertView {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	out := make([]AlertView, 0, len(r.alerts))
	for _, a := range r.alerts {
		if a.ResolvedAt(now) {
			continue
		}
		out = append(out, r.viewLocked(a, now))
	}
	slices.SortFunc(out, func(x, y AlertView) int { return compareLabels(x.Alert.Labels, y.Alert.Labels) })
	return out
}

func (r *Router) viewLocked(a *alert.Alert, now time.Time) AlertView {
	c := *a
	var rcv []string
	if r.tree != nil {
		for _, rt := range r.tree.Match(a.Labels) {
			rcv = append(rcv, rt.RouteOpts.Receiver)
		}
	}
	return AlertView{Alert: &c, Status: r.statusLocked(a.Labels, now), Receivers: rcv}
}

// Groups returns the aggregation groups with their unresolved alerts.
func (r *Router) Groups() []GroupView {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	out := make([]GroupView, 0, len(r.groups))
	for _, g := range r.groups {
		gv := GroupView{Labels: g.labels, Receiver: g.opts.Receiver, RouteID: g.route.ID()}
		for _, a := range g.alerts {
			if !a.ResolvedAt(now) {
				gv.Alerts = append(gv.Alerts, r.viewLocked(a, now))
			}
		}
		slices.SortFunc(gv.Alerts, func(x, y AlertView) int { return compareLabels(x.Alert.Labels, y.Alert.Labels) })
		out = append(out, gv)
	}
	slices.SortFunc(out, func(x, y GroupView) int {
		if c := compareLabels(x.Labels, y.Labels); c != 0 {
			return c
		}
		if x.Receiver < y.Receiver {
			return -1
		}
		if x.Receiver > y.Receiver {
			return 1
		}
		return 0
	})
	return out
}

func compareLabels(a, b model.LabelSet) int {
	switch {
	case a.Before(b):
		return -1
	case b.Before(a):
		return 1
	}
	return 0
}
