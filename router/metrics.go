package router

import (
	"slices"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	alertsReceived *prometheus.CounterVec
	notifications  *prometheus.CounterVec
	flushErrors    prometheus.Counter
	inlineFlushes  prometheus.Counter
	groups         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		alertsReceived: f.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_alerts_received_total",
			Help: "Alerts accepted by the router, by their status when received.",
		}, []string{"status"}),
		notifications: f.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_group_notifications_total",
			Help: "Group flushes that produced a notification, by reason.",
		}, []string{"reason"}),
		flushErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "klaxon_group_flush_failures_total",
			Help: "Group flushes whose transaction failed and will be retried.",
		}),
		inlineFlushes: f.NewCounter(prometheus.CounterOpts{
			Name: "klaxon_group_flushes_inline_total",
			Help: "First notifications of immediate groups (group_wait under 1s) recorded in the transaction of the ingest that formed the group.",
		}),
		groups: f.NewGauge(prometheus.GaugeOpts{
			Name: "klaxon_alert_groups",
			Help: "Aggregation groups currently held.",
		}),
	}
	// Export every series from the start, so that rate() and alerts on
	// them work before the first alert of each kind.
	for _, s := range []string{"firing", "resolved"} {
		m.alertsReceived.WithLabelValues(s)
	}
	for _, r := range []Reason{ReasonFirst, ReasonNew, ReasonResolved, ReasonRepeat} {
		m.notifications.WithLabelValues(string(r))
	}
	return m
}

func (m *metrics) received(a *alert.Alert, now time.Time) {
	status := "firing"
	if a.ResolvedAt(now) {
		status = "resolved"
	}
	m.alertsReceived.WithLabelValues(status).Inc()
}

// sortAlerts orders alerts as Alertmanager's notifications do: by labels.
func sortAlerts(as []*alert.Alert) {
	slices.SortFunc(as, func(a, b *alert.Alert) int {
		if a.Labels.Before(b.Labels) {
			return -1
		}
		if b.Labels.Before(a.Labels) {
			return 1
		}
		return 0
	})
}
