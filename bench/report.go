package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Table is a table of text cells.
type Table struct {
	Header []string
	Rows   [][]string
}

// Markdown renders the table as a GitHub-flavoured Markdown table with
// aligned columns, which reads as well in a terminal.
func (t Table) Markdown() string {
	widths := make([]int, len(t.Header))
	for i, h := range t.Header {
		widths[i] = textWidth(h)
	}
	for _, row := range t.Rows {
		for i, c := range row {
			if i < len(widths) {
				widths[i] = max(widths[i], textWidth(c))
			}
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			b.WriteString(" " + c + strings.Repeat(" ", widths[i]-textWidth(c)) + " |")
		}
		b.WriteString("\n")
	}
	line(t.Header)
	b.WriteString("|")
	for _, w := range widths {
		b.WriteString(strings.Repeat("-", w+2) + "|")
	}
	b.WriteString("\n")
	for _, row := range t.Rows {
		line(row)
	}
	return b.String()
}

func textWidth(s string) int { return len([]rune(s)) }

// goal is a figure's target.
type goal struct {
	text     string
	minRatio map[string]float64 // Klaxon store -> lowest acceptable Klaxon/AM
	maxRatio map[string]float64 // Klaxon store -> highest acceptable Klaxon/AM
	maxValue float64            // highest acceptable Klaxon value, 0 if none
}

func (g goal) ratioMark(store string, ratio float64) string {
	if lo, ok := g.minRatio[store]; ok {
		return mark(ratio >= lo)
	}
	if hi, ok := g.maxRatio[store]; ok {
		return mark(ratio <= hi)
	}
	return ""
}

func mark(ok bool) string {
	if ok {
		return " ✓"
	}
	return " ✗"
}

// figure is one row of the results table.
type figure struct {
	name   string
	value  func(target string) (float64, bool)
	format func(float64) string
	ratio  bool // show Klaxon/Alertmanager
	goal   goal
}

// Table returns the results table: one row per figure, one column per
// target, and the Klaxon/Alertmanager ratios measured in this run.
func (r *Results) Table() Table {
	var targets, stores []string
	for _, name := range AllTargets {
		if contains(r.Options.Targets, name) {
			targets = append(targets, name)
			if name != Alertmanager {
				stores = append(stores, name)
			}
		}
	}
	withAM := contains(targets, Alertmanager)
	t := Table{Header: []string{"figure"}}
	for _, name := range targets {
		t.Header = append(t.Header, TargetTitle(name))
	}
	if withAM {
		for _, s := range stores {
			t.Header = append(t.Header, ratioTitle(s))
		}
	}
	t.Header = append(t.Header, "target")

	for _, f := range r.figures() {
		if !f.measured(targets) {
			continue
		}
		row := []string{f.name}
		for _, name := range targets {
			v, ok := f.value(name)
			cell := "—"
			if ok {
				cell = f.format(v)
				if f.goal.maxValue > 0 && name != Alertmanager {
					cell += mark(v <= f.goal.maxValue)
				}
			}
			row = append(row, cell)
		}
		if withAM {
			am, amOK := f.value(Alertmanager)
			for _, s := range stores {
				v, ok := f.value(s)
				cell := "—"
				if f.ratio && ok && amOK && am != 0 && !math.IsInf(am, 0) {
					ratio := v / am
					cell = formatRatio(ratio) + f.goal.ratioMark(s, ratio)
				}
				row = append(row, cell)
			}
		}
		row = append(row, f.goal.text)
		t.Rows = append(t.Rows, row)
	}
	return t
}

// measured reports whether any of targets has a value for f.
func (f figure) measured(targets []string) bool {
	for _, t := range targets {
		if _, ok := f.value(t); ok {
			return true
		}
	}
	return false
}

func ratioTitle(store string) string {
	if store == SQLite {
		return "SQLite/AM"
	}
	return "PostgreSQL/AM"
}

func (r *Results) figures() []figure {
	ingest := func(get func(*IngestResult) float64) func(string) (float64, bool) {
		return func(t string) (float64, bool) {
			if x := r.Ingest[t]; x != nil {
				return get(x), true
			}
			return 0, false
		}
	}
	memory := func(t string) (float64, bool) {
		if x := r.Memory[t]; x != nil {
			return float64(x.RSS), true
		}
		return 0, false
	}
	latency := func(get func(*LatencyResult) time.Duration) func(string) (float64, bool) {
		return func(t string) (float64, bool) {
			if x := r.Latency[t]; x != nil && x.Probes > 0 {
				if d := get(x); d != Lost {
					return float64(d), true
				}
				return math.Inf(1), true
			}
			return 0, false
		}
	}
	startup := func(get func(*StartupResult) float64) func(string) (float64, bool) {
		return func(t string) (float64, bool) {
			if x := r.Startup[t]; x != nil {
				v := get(x)
				return v, v >= 0
			}
			return 0, false
		}
	}
	dur := func(v float64) string {
		if math.IsInf(v, 1) {
			return "lost"
		}
		return formatDuration(time.Duration(v))
	}
	s := r.Sizes
	return []figure{
		{
			name:   fmt.Sprintf("ingest: accepted alerts/s (%d clients)", r.Options.Workers),
			value:  ingest(func(x *IngestResult) float64 { return x.Rate }),
			format: func(v float64) string { return formatInt(int64(math.Round(v))) },
			ratio:  true,
			goal:   goal{text: "≥2× (SQLite), ≥1× (PostgreSQL)", minRatio: map[string]float64{SQLite: 2, Postgres: 1}},
		},
		{
			name:   "ingest: server CPU, cores",
			value:  ingest(func(x *IngestResult) float64 { return x.ServerCPU }),
			format: func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
		},
		{
			name:   "ingest: POST p99",
			value:  ingest(func(x *IngestResult) float64 { return float64(x.RequestP99) }),
			format: dur,
		},
		{
			name:   fmt.Sprintf("memory: VmRSS, %s alerts in %s groups", formatInt(int64(s.MemoryAlerts)), formatInt(int64(s.MemoryGroups))),
			value:  memory,
			format: func(v float64) string { return mib(int64(v)) },
			ratio:  true,
			goal:   goal{text: "≤0.5×", maxRatio: map[string]float64{SQLite: 0.5, Postgres: 0.5}},
		},
		{
			name:   "latency: POST → webhook p50",
			value:  latency(func(x *LatencyResult) time.Duration { return x.P50 }),
			format: dur,
			ratio:  true,
		},
		{
			name:   "latency: POST → webhook p99",
			value:  latency(func(x *LatencyResult) time.Duration { return x.P99 }),
			format: dur,
			ratio:  true,
			goal:   goal{text: "≤1.5×", maxRatio: map[string]float64{SQLite: 1.5, Postgres: 1.5}},
		},
		{
			name:   "start-up: exec → /-/ready 200",
			value:  startup(func(x *StartupResult) float64 { return float64(x.Ready) }),
			format: dur,
			ratio:  true,
			goal:   goal{text: "≤1 s", maxValue: float64(time.Second)},
		},
		{
			name:   "start-up: exec → first notification",
			value:  startup(func(x *StartupResult) float64 { return float64(x.Notified) }),
			format: dur,
			ratio:  true,
		},
		{
			name:   "start-up: alerts held after restart",
			value:  startup(func(x *StartupResult) float64 { return float64(x.AlertsHeld) }),
			format: func(v float64) string { return formatInt(int64(v)) },
		},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// formatInt writes n with thousands separators: 12,345.
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatDuration writes d in ms below a second and in s above.
func formatDuration(d time.Duration) string {
	switch {
	case d == Lost:
		return "lost"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	}
}

func formatRatio(r float64) string {
	if math.IsInf(r, 1) {
		return "∞"
	}
	if r >= 10 {
		return strconv.FormatFloat(r, 'f', 0, 64) + "×"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "×"
}

// mib writes a byte count in MiB.
func mib(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + " MiB"
}
