package e2e

import (
	"slices"
	"strings"
	"time"
)

// The scenarios' timers: a group created at t first flushes at t+1s, then
// ticks at t+3s, t+5s, ... Steps happen between ticks (at whole or half
// seconds off the grid), and repeat intervals are chosen so that no
// decision falls on the exact boundary, where a millisecond would decide.
const (
	sec  = time.Second
	half = 500 * time.Millisecond
)

// baseConfig is one receiver grouping by alertname; {{ROUTE}} adds
// settings to the root route, {{EXTRA}} whole top-level sections.
const baseConfig = `global:
  resolve_timeout: 5m
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
{{ROUTE}}
receivers:
  - name: hook
    webhook_configs:
      - url: {{HOOK}}
        send_resolved: true
  - name: other
    webhook_configs:
      - url: {{HOOK}}
        send_resolved: true
  - name: third
    webhook_configs:
      - url: {{HOOK}}
        send_resolved: true
{{EXTRA}}
`

func cfg(route, extra string) string {
	return strings.NewReplacer("{{ROUTE}}", route, "{{EXTRA}}", extra).Replace(baseConfig)
}

func post(at time.Duration, as ...diffAlert) diffStep { return diffStep{at: at, post: as} }

// diffScenarios are all the scenarios. Left out on purpose: an alert that
// fires again shortly after its group resolved and emptied. Alertmanager
// 0.25 keeps the empty group until its 30-second maintenance tick, so the
// alert rejoins it on the old group_interval grid, or starts a new group
// with group_wait, depending on that tick's phase; Alertmanager 0.35 (whose
// dispatch package Klaxon follows) drops the group at once, always the
// latter.
func diffScenarios() []diffScenario {
	return slices.Concat(routingScenarios(), treeScenarios(), muteScenarios())
}

func routingScenarios() []diffScenario {
	return []diffScenario{
		{name: "group_by alertname", want: 2, config: cfg("", ""), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1"), fire("alertname", "Foo", "i", "2"), fire("alertname", "Bar", "i", "1")),
		}},
		{name: "group_by all labels", want: 3, config: strings.Replace(cfg("", ""), "group_by: [alertname]", "group_by: ['...']", 1), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1"), fire("alertname", "Foo", "i", "2"), fire("alertname", "Bar", "i", "1")),
		}},
		{name: "no group_by", want: 1, config: strings.Replace(cfg("", ""), "group_by: [alertname]", "group_by: []", 1), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1"), fire("alertname", "Bar", "i", "1")),
		}},
		{name: "new alert joins on group_interval", want: 2, config: cfg("", ""), end: 3*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1")),
			post(2*sec, fire("alertname", "Foo", "i", "2")),
		}},
		{name: "repeat_interval", want: 2, config: strings.Replace(cfg("", ""), "repeat_interval: 1h", "repeat_interval: 5s", 1), end: 7*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1")),
		}},
		{name: "resolve with send_resolved", want: 2, config: cfg("", ""), end: 3*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1"), fire("alertname", "Foo", "i", "2")),
			post(2*sec, resolve("alertname", "Foo", "i", "1")),
		}},
		{name: "resolve within group_wait", want: 0, config: cfg("", ""), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1")),
			post(half, resolve("alertname", "Foo", "i", "1")),
		}},
		{name: "alert older than group_wait skips it", want: 2, config: cfg("", ""), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "New", "i", "1")),
			post(half/5, old(time.Hour, "alertname", "Old", "i", "1")),
		}},
		{name: "send_resolved false", want: 1, config: strings.ReplaceAll(cfg("", ""), "send_resolved: true", "send_resolved: false"), end: 5*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1"), fire("alertname", "Foo", "i", "2")),
			post(2*sec, resolve("alertname", "Foo", "i", "1")),
			post(4*sec, resolve("alertname", "Foo", "i", "2")),
		}},
		{name: "resolve_timeout", want: 2, config: strings.Replace(cfg("", ""), "resolve_timeout: 5m", "resolve_timeout: 2500ms", 1), end: 3*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1")),
		}},
	}
}

func treeScenarios() []diffScenario {
	return []diffScenario{
		{name: "continue", want: 4, config: cfg(`  routes:
    - receiver: other
      matchers: [team="a"]
      continue: true
    - receiver: third
      matchers: [severity="page"]
`, ""), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "team", "a", "severity", "page"), fire("alertname", "Bar", "team", "b"),
				fire("alertname", "Baz", "team", "a")),
		}},
		{name: "nested routes inherit timers", want: 4, config: cfg(`  routes:
    - receiver: other
      matchers: [team="a"]
      group_wait: 3s
      routes:
        - receiver: third
          matchers: [severity="page"]
          group_by: [instance]
`, ""), end: 5*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "instance", "x"), fire("alertname", "Foo", "team", "a", "instance", "y"),
				fire("alertname", "Foo", "team", "a", "severity", "page", "instance", "z")),
			post(4*sec, fire("alertname", "Foo", "team", "a", "instance", "w")),
		}},
		{name: "deprecated match and match_re", want: 3, config: cfg(`  routes:
    - receiver: other
      match: {team: db}
    - receiver: third
      match_re: {service: "api|web"}
`, ""), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "A", "team", "db"), fire("alertname", "B", "service", "web"),
				fire("alertname", "C", "service", "webx")),
		}},
		{name: "max_alerts truncation", want: 1, config: strings.Replace(cfg("", ""), "send_resolved: true\n", "send_resolved: true\n        max_alerts: 2\n", 1), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1"), fire("alertname", "Foo", "i", "2"), fire("alertname", "Foo", "i", "3"),
				fire("alertname", "Foo", "i", "4")),
		}},
		{name: "reload mid-group", want: 2, config: cfg("", ""), end: 6*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1")),
			{at: 2 * sec, reload: strings.Replace(cfg("", ""), "repeat_interval: 1h", "repeat_interval: 2h", 1)},
			post(4*sec+half, fire("alertname", "Foo", "i", "2")),
		}},
		{name: "restart mid-group", want: 2, config: cfg("", ""), end: 7*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1")),
			{at: 3*sec + half, restart: true},
			// Alertmanager forgets alerts on restart; Prometheus sends them
			// again on its next evaluation, as here.
			post(5*sec, fire("alertname", "Foo", "i", "1")),
			post(5*sec+half, fire("alertname", "Foo", "i", "2")),
		}},
	}
}

const inhibitRules = `inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
`

const timeIntervals = `time_intervals:
  - name: always
    time_intervals:
      - weekdays: ["sunday:saturday"]
  - name: never
    time_intervals:
      - years: ["2000"]
  - name: every-day-in-tokyo
    time_intervals:
      - days_of_month: ["1:-1"]
        months: ["january:december"]
        times: [{start_time: "00:00", end_time: "24:00"}]
        location: Asia/Tokyo
  - name: last-days-of-old-years
    time_intervals:
      - years: ["2000:2010"]
        days_of_month: ["-3:-1"]
`

func muteScenarios() []diffScenario {
	byCluster := strings.Replace(cfg("", inhibitRules), "group_by: [alertname]", "group_by: [alertname, cluster]", 1)
	return []diffScenario{
		{name: "inhibition with equal", want: 4, config: byCluster, end: 3*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Crit", "severity", "critical", "cluster", "a"),
				fire("alertname", "Warn", "severity", "warning", "cluster", "a"),
				fire("alertname", "Warn", "severity", "warning", "cluster", "b")),
			post(2*sec, resolve("alertname", "Crit", "severity", "critical", "cluster", "a")),
		}},
		{name: "inhibition starting after notification", want: 3, config: byCluster, end: 5*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Warn", "severity", "warning", "cluster", "a")),
			post(2*sec, fire("alertname", "Crit", "severity", "critical", "cluster", "a")),
			post(4*sec, resolve("alertname", "Crit", "severity", "critical", "cluster", "a")),
		}},
		{name: "silenced source still inhibits", want: 1, config: byCluster, end: 2*sec + half, steps: []diffStep{
			{at: 0, silence: &diffSilence{name: "s", matchers: []string{`alertname="Crit"`}, lasts: time.Hour}},
			post(half/5, fire("alertname", "Crit", "severity", "critical", "cluster", "a"),
				fire("alertname", "Warn", "severity", "warning", "cluster", "a"),
				fire("alertname", "Other", "cluster", "a")),
		}},
		{name: "inhibition equal on missing labels", want: 2, config: byCluster, end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Crit", "severity", "critical"),
				fire("alertname", "Warn", "severity", "warning"),
				fire("alertname", "Warn", "severity", "warning", "cluster", "x")),
		}},
		{name: "inhibition by a deprecated rule matching both sides", want: 2, config: cfg("", `inhibit_rules:
  - source_match_re: {alertname: "A|B"}
    target_match_re: {alertname: "A|B|C"}
`), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "A"), fire("alertname", "B"), fire("alertname", "C")),
		}},
		{name: "silence before alerts", want: 1, config: cfg("", ""), end: 2*sec + half, steps: []diffStep{
			{at: 0, silence: &diffSilence{name: "s", matchers: []string{`alertname="Foo"`}, lasts: time.Hour}},
			post(half/5, fire("alertname", "Foo", "i", "1"), fire("alertname", "Bar", "i", "1")),
		}},
		{name: "silence regex", want: 1, config: cfg("", ""), end: 2*sec + half, steps: []diffStep{
			{at: 0, silence: &diffSilence{name: "s", matchers: []string{`instance=~"web-.*"`}, lasts: time.Hour}},
			post(half/5, fire("alertname", "Foo", "instance", "web-1"), fire("alertname", "Foo", "instance", "db-1")),
		}},
		{name: "silence negative matchers", want: 1, config: cfg("", ""), end: 2*sec + half, steps: []diffStep{
			{at: 0, silence: &diffSilence{name: "s", matchers: []string{`alertname="Foo"`, `instance!="keep"`, `job!~"crit.*"`}, lasts: time.Hour}},
			post(half/5, fire("alertname", "Foo", "instance", "keep"), fire("alertname", "Foo", "instance", "drop", "job", "x"),
				fire("alertname", "Foo", "instance", "drop", "job", "critical")),
		}},
		{name: "silence expire", want: 1, config: cfg("", ""), end: 3*sec + half, steps: []diffStep{
			{at: 0, silence: &diffSilence{name: "s", matchers: []string{`alertname="Foo"`}, lasts: time.Hour}},
			post(half/5, fire("alertname", "Foo", "i", "1")),
			{at: 2 * sec, expire: "s"},
		}},
		{name: "silence mutes repeat then expires", want: 2, config: strings.Replace(cfg("", ""), "repeat_interval: 1h", "repeat_interval: 5s", 1), end: 9*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "i", "1")),
			{at: 2 * sec, silence: &diffSilence{name: "s", matchers: []string{`alertname="Foo"`}, lasts: time.Hour}},
			{at: 8 * sec, expire: "s"},
		}},
		{name: "silence update", want: 1, config: cfg("", ""), end: 2*sec + half, steps: []diffStep{
			{at: 0, silence: &diffSilence{name: "s", matchers: []string{`alertname="Foo"`}, lasts: time.Hour}},
			// Same matchers: updated in place; new matchers: replaced.
			{at: half / 5, silence: &diffSilence{name: "s", update: "s", matchers: []string{`alertname="Foo"`}, lasts: 2 * time.Hour}},
			{at: 2 * half / 5, silence: &diffSilence{name: "t", update: "s", matchers: []string{`alertname="Bar"`}, lasts: time.Hour}},
			post(3*half/5, fire("alertname", "Foo", "i", "1"), fire("alertname", "Bar", "i", "1")),
		}},
		{name: "pending silence", want: 1, config: cfg("", ""), end: 3*sec + half, steps: []diffStep{
			{at: 0, silence: &diffSilence{name: "s", matchers: []string{`alertname="Foo"`}, startIn: 1500 * time.Millisecond, lasts: time.Hour}},
			post(half/5, fire("alertname", "Foo", "i", "1")),
			post(2*sec, fire("alertname", "Foo", "i", "2")),
		}},
		{name: "mute_time_intervals", want: 1, config: cfg(`  routes:
    - receiver: other
      matchers: [team="a"]
      mute_time_intervals: [always]
    - receiver: third
      matchers: [team="b"]
      mute_time_intervals: [never]
`, timeIntervals), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "team", "a"), fire("alertname", "Foo", "team", "b")),
		}},
		{name: "time intervals with location, months and negative days", want: 1, config: cfg(`  routes:
    - receiver: other
      matchers: [team="a"]
      mute_time_intervals: [every-day-in-tokyo]
    - receiver: third
      matchers: [team="b"]
      active_time_intervals: [last-days-of-old-years]
`, timeIntervals), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "team", "a"), fire("alertname", "Foo", "team", "b"), fire("alertname", "Foo", "team", "c")),
		}},
		{name: "active_time_intervals", want: 1, config: cfg(`  routes:
    - receiver: other
      matchers: [team="a"]
      active_time_intervals: [never]
    - receiver: third
      matchers: [team="b"]
      active_time_intervals: [always]
`, timeIntervals), end: 2*sec + half, steps: []diffStep{
			post(0, fire("alertname", "Foo", "team", "a"), fire("alertname", "Foo", "team", "b")),
		}},
	}
}
