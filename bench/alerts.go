// Package bench measures Klaxon against Alertmanager on this machine: it
// builds and starts the servers, drives them with Prometheus-like alert
// traffic over the API v2, receives their webhooks, and reports each figure
// with the Klaxon/Alertmanager ratio measured in the same run.
//
// The command is bench/cmd/klaxon-bench; BENCHMARKS.md says how to run it
// and records its results.
package bench

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Alert is one postable alert of Alertmanager's API v2.
type Alert struct {
	Labels   []Label // in the order they are written
	StartsAt time.Time
	EndsAt   time.Time
}

// Label is one label name and value.
type Label struct{ Name, Value string }

// Resolved reports whether the alert has ended at now.
func (a Alert) Resolved(now time.Time) bool { return !a.EndsAt.IsZero() && !a.EndsAt.After(now) }

// Group returns the value of the "group" label, which the benchmark
// configuration groups by.
func (a Alert) Group() string { return a.label("group") }

func (a Alert) label(name string) string {
	for _, l := range a.Labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// validFor is how far ahead Prometheus sets endsAt of a firing alert it
// sends: four times the larger of its resend delay and evaluation interval,
// both one minute by default.
const validFor = 4 * time.Minute

// benchAlert is alert number i of a workload spread over groups groups.
// Its labels look like a node-exporter alert's; "group" is what the
// benchmark configuration groups by.
func benchAlert(i, groups int, startsAt, endsAt time.Time) Alert {
	return Alert{
		Labels: []Label{
			{"alertname", "BenchAlert"},
			{"group", fmt.Sprintf("g%05d", i%groups)},
			{"instance", fmt.Sprintf("host-%07d:9100", i)},
			{"job", "node"},
			{"severity", "warning"},
		},
		StartsAt: startsAt,
		EndsAt:   endsAt,
	}
}

// Population returns n firing alerts spread evenly over groups groups,
// each valid until endsAt: the alerts a server holds in the memory and
// start-up scenarios.
func Population(n, groups int, startsAt, endsAt time.Time) []Alert {
	out := make([]Alert, n)
	for i := range out {
		out[i] = benchAlert(i, groups, startsAt, endsAt)
	}
	return out
}

// Mix generates the ingest traffic of Prometheus servers: a window of
// Active firing alerts spread over Groups groups, re-sent over and over
// with a fresh endsAt, while a share of each batch are alerts that start
// firing (joining the window) and alerts that resolve (leaving it), so that
// the window keeps its size. It is safe for concurrent use.
type Mix struct {
	groups      int
	newPer100   int // new alerts per 100 sent
	resolvePer  int // resolving alerts per 100 sent
	mu          sync.Mutex
	lo, hi      int // the active window: alerts lo..hi-1
	cursor      int // next alert to re-send, counted from lo
	sent        int
	startedAt   []time.Time // by alert number modulo the window size
	initialTime time.Time
}

// NewMix returns a Mix of active alerts in groups groups, of which
// newPct and resolvePct percent of the alerts sent start or resolve.
// The window keeps its size only if both are equal.
func NewMix(active, groups, newPct, resolvePct int, start time.Time) *Mix {
	if active < 1 || groups < 1 || newPct < 0 || resolvePct < 0 || newPct+resolvePct > 100 {
		panic("bench: invalid mix")
	}
	m := &Mix{groups: groups, newPer100: newPct, resolvePer: resolvePct, hi: active,
		startedAt: make([]time.Time, active), initialTime: start}
	for i := range m.startedAt {
		m.startedAt[i] = start
	}
	return m
}

// Initial returns the whole initial window, to post before measuring.
func (m *Mix) Initial(now time.Time) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Alert, 0, m.hi-m.lo)
	for i := m.lo; i < m.hi; i++ {
		out = append(out, benchAlert(i, m.groups, m.startedAt[i%len(m.startedAt)], now.Add(validFor)))
	}
	return out
}

// Next returns the next n alerts to send at now.
func (m *Mix) Next(n int, now time.Time) []Alert {
	out := make([]Alert, 0, n)
	m.mu.Lock()
	defer m.mu.Unlock()
	size := len(m.startedAt)
	for range n {
		k := m.sent % 100
		m.sent++
		switch {
		case k < m.newPer100 && m.hi-m.lo < size:
			i := m.hi
			m.hi++
			m.startedAt[i%size] = now
			out = append(out, benchAlert(i, m.groups, now, now.Add(validFor)))
		case k >= 100-m.resolvePer && m.hi-m.lo > 1:
			i := m.lo
			m.lo++
			out = append(out, benchAlert(i, m.groups, m.startedAt[i%size], now))
		default:
			i := m.lo + m.cursor%(m.hi-m.lo)
			m.cursor++
			out = append(out, benchAlert(i, m.groups, m.startedAt[i%size], now.Add(validFor)))
		}
	}
	return out
}

// Window returns the numbers of the first and one past the last active
// alert.
func (m *Mix) Window() (lo, hi int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lo, m.hi
}

// AppendJSON appends alerts as the body of POST /api/v2/alerts. It writes
// the JSON by hand: the load generator shares the CPUs with the servers it
// measures, so it must cost little.
func AppendJSON(b []byte, alerts []Alert) []byte {
	b = append(b, '[')
	for i, a := range alerts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"labels":{`...)
		for j, l := range a.Labels {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, l.Name)
			b = append(b, ':')
			b = strconv.AppendQuote(b, l.Value)
		}
		b = append(b, `},"annotations":{"summary":"benchmark alert"}`...)
		if !a.StartsAt.IsZero() {
			b = append(b, `,"startsAt":"`...)
			b = a.StartsAt.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
		if !a.EndsAt.IsZero() {
			b = append(b, `,"endsAt":"`...)
			b = a.EndsAt.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
		b = append(b, `,"generatorURL":"http://prometheus.bench/graph"}`...)
	}
	return append(b, ']')
}
