package notifiers

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	notifications *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	pending       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		notifications: f.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_notifications_total",
			Help: "Delivery attempts of notifications by integration, receiver and result (sent, failed, retry, skipped).",
		}, []string{"integration", "receiver", "result"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "klaxon_notification_latency_seconds",
			Help:    "Time from a group's flush to the delivery of its notification, retries included.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"integration"}),
		pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "klaxon_outbox_pending",
			Help: "Outbox rows not yet delivered: waiting, backing off or being sent.",
		}),
	}
}
