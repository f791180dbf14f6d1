package rules

import (
	"github.com/klaxon-dev/klaxon/internal/testenv"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
)

// BenchmarkTenThousandRules evaluates 10,000 alerting rules in 500 groups
// at a 30s interval against a real Prometheus holding 10,000 series, for
// two full cycles, and reports Klaxon's own CPU time per cycle (this
// process: evaluator, HTTP client, SQLite) and the slowest group. It fails
// if any group overran its interval. Run it with
//
//	go test -run '^$' -bench TenThousandRules -benchtime 1x ./rules/
func BenchmarkTenThousandRules(b *testing.B) {
	const (
		series   = 10000
		groups   = 500
		perGroup = 20
		interval = 30 * time.Second
	)
	var page strings.Builder
	page.WriteString("# TYPE klaxon_bench_value gauge\n")
	for i := range series {
		fmt.Fprintf(&page, "klaxon_bench_value{series=\"%d\"} %d\n", i, i%100)
	}
	tg := testenv.NewStaticScrapeTarget(b, "klaxon_bench_value", page.String())
	prom := testenv.StartPrometheus(b, tg)

	dir := b.TempDir()
	for f := range groups / 20 {
		var y strings.Builder
		y.WriteString("groups:\n")
		for g := f * 20; g < (f+1)*20; g++ {
			fmt.Fprintf(&y, "  - name: g%d\n    interval: 30s\n    rules:\n", g)
			for r := range perGroup {
				i := g*perGroup + r
				// values ≥ 96 fire: 4% of the rules, 400 alerts.
				fmt.Fprintf(&y, "      - alert: Bench%d\n        expr: klaxon_bench_value{series=\"%d\"} > 95\n        annotations: {summary: 'value {{ $value }}'}\n", i, i)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.yml", f)), []byte(y.String()), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg := &config.Config{Rules: config.DefaultRules, Prometheus: config.DefaultPrometheus}
	cfg.Rules.Files = []string{dir}
	cfg.Prometheus.URL = prom.URL
	rec := &recorder{}
	m := New(Options{DB: storagetest.Open(b, "sqlite"), Clock: clockwork.NewRealClock(), Router: rec})
	if err := m.ApplyConfig(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	b.ResetTimer()
	time.Sleep(interval + 5*time.Second) // the first cycle: every group once
	before := cpu()
	time.Sleep(interval) // one full cycle measured
	perCycle := cpu() - before
	time.Sleep(5 * time.Second)
	b.StopTimer()
	cancel()
	<-done

	missed, slowest := sumCounter(m.metrics.groups.IterationsMissed), maxGauge(m.metrics.groups.GroupLastDuration)
	b.ReportMetric(perCycle.Seconds(), "cpu-s/cycle")
	b.ReportMetric(slowest, "slowest-group-s")
	b.ReportMetric(missed, "missed-iterations")
	if missed > 0 || slowest >= interval.Seconds() {
		b.Errorf("groups overran their interval: %v missed iterations, slowest group %.2fs", missed, slowest)
	}
	if n := len(m.Alerts()); n != 400 {
		b.Errorf("want 400 firing alerts, got %d", n)
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sumCounter(c prometheus.Collector) float64 {
	var s float64
	for _, m := range collect(c) {
		s += m.GetCounter().GetValue()
	}
	return s
}

func maxGauge(c prometheus.Collector) float64 {
	var s float64
	for _, m := range collect(c) {
		s = max(s, m.GetGauge().GetValue())
	}
	return s
}

func collect(c prometheus.Collector) []*dto.Metric {
	ch := make(chan prometheus.Metric, 1024)
	go func() { c.Collect(ch); close(ch) }()
	var out []*dto.Metric
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			out = append(out, &d)
		}
	}
	return out
}
