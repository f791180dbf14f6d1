package router

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	amcommoncfg "github.com/prometheus/alertmanager/config/common"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// BenchmarkRouteMatch routes an alert through a 500-route tree: 50 team
// routes, each with 9 service routes (one of them a regex), the last team
// matching the alert.
func BenchmarkRouteMatch(b *testing.B) {
	var cfg strings.Builder
	cfg.WriteString("route:\n  receiver: r\n  routes:\n")
	for t := range 50 {
		fmt.Fprintf(&cfg, "    - matchers: [team=\"t%d\"]\n      routes:\n", t)
		for s := range 8 {
			fmt.Fprintf(&cfg, "        - matchers: [service=\"s%d\", env!=\"dev\"]\n", s)
		}
		cfg.WriteString("        - matchers: [service=~\"api-.*\"]\n          continue: true\n")
	}
	cfg.WriteString("receivers:\n  - name: r\n")
	c, err := amconfig.Load(cfg.String())
	if err != nil {
		b.Fatal(err)
	}
	tree := dispatch.NewRoute(c.Route, nil)
	lset := model.LabelSet{"alertname": "Down", "team": "t49", "service": "api-gateway", "env": "prod"}
	b.ReportAllocs()
	for b.Loop() {
		if len(tree.Match(lset)) == 0 {
			b.Fatal("no route")
		}
	}
}

// BenchmarkSilenceMatch checks one alert against 10,000 active silences,
// none of which mutes it. "indexed": each silence has an equality matcher
// (the common case: alertname="..."), so the index skips most of them;
// "regex-only": no silence has one, so every silence is checked.
func BenchmarkSilenceMatch(b *testing.B) {
	for _, tc := range []struct {
		name  string
		first labels.MatchType
	}{{"indexed", labels.MatchEqual}, {"regex-only", labels.MatchRegexp}} {
		b.Run(tc.name, func(b *testing.B) {
			r := New(Options{})
			now := time.Now()
			for i := range 10000 {
				m1, _ := labels.NewMatcher(tc.first, "alertname", fmt.Sprintf("A%d", i))
				m2, _ := labels.NewMatcher(labels.MatchRegexp, "instance", fmt.Sprintf("host-%d.*", i%100))
				m3, _ := labels.NewMatcher(labels.MatchNotEqual, "env", "dev")
				id := fmt.Sprintf("s%d", i)
				r.putSilenceLocked(&Silence{ID: id, Matchers: labels.Matchers{m1, m2, m3}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)})
			}
			lset := model.LabelSet{"alertname": "Other", "instance": "host-1", "env": "prod"}
			b.ReportAllocs()
			for b.Loop() {
				if len(r.silencedByLocked(lset, now)) != 0 {
					b.Fatal("silenced")
				}
			}
		})
	}
}

// BenchmarkInhibition checks all of 10,000 alerts against 100 inhibition
// rules whose sources are among them; one op is one alert.
func BenchmarkInhibition(b *testing.B) {
	var rules []amcommoncfg.InhibitRule
	for i := range 100 {
		src, _ := labels.NewMatcher(labels.MatchEqual, "alertname", fmt.Sprintf("Src%d", i))
		tgt, _ := labels.NewMatcher(labels.MatchEqual, "severity", "warning")
		rules = append(rules, amcommoncfg.InhibitRule{
			SourceMatchers: amcommoncfg.Matchers{src}, TargetMatchers: amcommoncfg.Matchers{tgt}, Equal: []string{"cluster"},
		})
	}
	ih := newInhibitor(rules)
	now := time.Now()
	alerts := make([]*alert.Alert, 0, 10000)
	for i := range 10000 {
		ls := model.LabelSet{"alertname": model.LabelValue(fmt.Sprintf("Src%d", i%200)), "cluster": model.LabelValue(fmt.Sprintf("c%d", i%50)),
			"severity": "warning", "instance": model.LabelValue(fmt.Sprintf("i%d", i))}
		a := alert.New(model.Alert{Labels: ls, StartsAt: now, EndsAt: now.Add(time.Hour)}, now, false)
		alerts = append(alerts, a)
		ih.set(a)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ih.inhibitedBy(alerts[i%len(alerts)].Labels, now)
		i++
	}
}
