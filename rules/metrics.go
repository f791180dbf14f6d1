package rules

import (
	"github.com/prometheus/client_golang/prometheus"
	promrules "github.com/prometheus/prometheus/rules"
)

// metrics are the evaluator's own; the per-group metrics are Prometheus's
// (rules.Metrics), named klaxon_* instead of prometheus_*.
type metrics struct {
	groups         *promrules.Metrics
	reloadOK       *prometheus.GaugeVec
	fileReloadOK   *prometheus.GaugeVec
	queryFailures  prometheus.Counter
	ingestFailures prometheus.Counter
	saveFailures   prometheus.Counter
	restored       prometheus.Counter
	notRecorded    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	grp := []string{"rule_group"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "klaxon_" + name, Help: help}, grp)
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "klaxon_" + name, Help: help}, grp)
	}
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "klaxon_" + name, Help: help, Buckets: []float64{.01, .1, 1, 10}})
	}
	g := &promrules.Metrics{
		EvalDuration:               prometheus.NewSummary(prometheus.SummaryOpts{Name: "klaxon_rule_evaluation_duration_seconds", Help: "The duration for a rule to execute.", Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}}),
		EvalDurationHistogram:      hist("rule_evaluation_duration_histogram_seconds", "The duration for a rule to execute."),
		IterationDuration:          prometheus.NewSummary(prometheus.SummaryOpts{Name: "klaxon_rule_group_duration_seconds", Help: "The duration of rule group evaluations.", Objectives: map[float64]float64{0.01: 0.001, 0.05: 0.005, 0.5: 0.05, 0.90: 0.01, 0.99: 0.001}}),
		IterationDurationHistogram: hist("rule_group_duration_histogram_seconds", "The duration of rule group evaluations."),
		IterationsMissed:           counter("rule_group_iterations_missed_total", "The total number of rule group evaluations missed due to slow rule group evaluation."),
		IterationsScheduled:        counter("rule_group_iterations_total", "The total number of scheduled rule group evaluations, whether executed or missed."),
		EvalTotal:                  counter("rule_evaluations_total", "The total number of rule evaluations."),
		EvalFailures:               counter("rule_evaluation_failures_total", "The total number of rule evaluation failures (query errors, limits, duplicate label sets)."),
		GroupInterval:              gauge("rule_group_interval_seconds", "The interval of a rule group."),
		GroupLastEvalTime:          gauge("rule_group_last_evaluation_timestamp_seconds", "The timestamp of the last rule group evaluation in seconds."),
		GroupLastDuration:          gauge("rule_group_last_duration_seconds", "The duration of the last rule group evaluation."),
		GroupLastRuleDurationSum:   gauge("rule_group_last_rule_duration_sum_seconds", "The sum of time in seconds it took to evaluate each rule in the group."),
		GroupLastRestoreDuration:   gauge("rule_group_last_restore_duration_seconds", "The duration of the last alert state restoration."),
		GroupRules:                 gauge("rule_group_rules", "The number of rules."),
		GroupSamples:               gauge("rule_group_last_evaluation_samples", "The number of samples returned during the last rule group evaluation."),
	}
	m := &metrics{
		groups:         g,
		reloadOK:       gauge("rule_group_last_reload_successful", "Whether the last reload of the group's file was successful (0: the last good version keeps evaluating)."),
		fileReloadOK:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "klaxon_rule_file_last_reload_successful", Help: "Whether the last reload of the rule file was successful."}, []string{"file"}),
		queryFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "klaxon_rule_query_failures_total", Help: "Queries to Prometheus that failed."}),
		ingestFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "klaxon_rule_alert_ingest_failures_total", Help: "Batches of alerts from rules the router did not accept."}),
		saveFailures:   prometheus.NewCounter(prometheus.CounterOpts{Name: "klaxon_rule_state_save_failures_total", Help: "Failed writes of alert state to the database."}),
		restored:       prometheus.NewCounter(prometheus.CounterOpts{Name: "klaxon_rule_alerts_restored_total", Help: "Alerts whose state was restored from the database."}),
		notRecorded:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "klaxon_rule_recording_rules_not_evaluated", Help: "Recording rules loaded but not evaluated because no remote_write is configured."}),
	}
	if reg != nil {
		reg.MustRegister(g.EvalDuration, g.EvalDurationHistogram, g.IterationDuration, g.IterationDurationHistogram,
			g.IterationsMissed, g.IterationsScheduled, g.EvalTotal, g.EvalFailures, g.GroupInterval, g.GroupLastEvalTime,
			g.GroupLastDuration, g.GroupLastRuleDurationSum, g.GroupLastRestoreDuration, g.GroupRules, g.GroupSamples,
			m.reloadOK, m.fileReloadOK, m.queryFailures, m.ingestFailures, m.saveFailures, m.restored, m.notRecorded)
	}
	return m
}

// forget drops a removed group's series.
func (m *metrics) forget(key string) {
	g := m.groups
	for _, v := range []*prometheus.GaugeVec{g.GroupInterval, g.GroupLastEvalTime, g.GroupLastDuration, g.GroupLastRuleDurationSum, g.GroupLastRestoreDuration, g.GroupRules, g.GroupSamples, m.reloadOK} {
		v.DeleteLabelValues(key)
	}
	for _, v := range []*prometheus.CounterVec{g.IterationsMissed, g.IterationsScheduled, g.EvalTotal, g.EvalFailures} {
		v.DeleteLabelValues(key)
	}
}
