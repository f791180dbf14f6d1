package manifeststest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the Klaxon repository, two levels up from this module.
const repoRoot = "../.."

var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	braces     = regexp.MustCompile(`\{[^}]*\}`)
	brackets   = regexp.MustCompile(`\[[^\]]*\]`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "Inf": true, "NaN": true}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges, grouping clauses,
// function names and keywords are taken out. It is no PromQL parser, but
// enough for the expressions in deploy/.
func metricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, " ")
	s = braces.ReplaceAllString(s, " ")
	s = brackets.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range identifier.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if keywords[name] || (loc[0] > 0 && (s[loc[0]-1] == '$' || s[loc[0]-1] == '.' || (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9'))) {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or aggregation
		}
		names = append(names, name)
	}
	return names
}

var (
	literalsOnce sync.Once
	literals     map[string]bool
	goString     = regexp.MustCompile(`"([a-z0-9_]+)"`)
)

// sourceLiterals collects the string literals of Klaxon's Go source: metric
// names are spelled there whole ("klaxon_outbox_pending") or without the
// prefix a helper adds ("rule_evaluation_failures_total").
func sourceLiterals(t *testing.T) map[string]bool {
	t.Helper()
	literalsOnce.Do(func() {
		literals = map[string]bool{}
		_ = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() && p != repoRoot && (d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, m := range goString.FindAllStringSubmatch(string(data), -1) {
				literals[m[1]] = true
			}
			return nil
		})
	})
	if len(literals) == 0 {
		t.Fatalf("found no Go source under %s", repoRoot)
	}
	return literals
}

// otherMetrics may appear beside Klaxon's own: the scrape's up, and the
// Go and process collectors' series.
var otherMetrics = regexp.MustCompile(`^(up|go_[a-z0-9_]+|process_[a-z0-9_]+)$`)

// registeredElsewhere are Klaxon series whose names no literal spells.
var registeredElsewhere = map[string]bool{"klaxon_build_info": true} // versioncollector.NewCollector("klaxon")

// checkMetricName fails the test unless name is one of Klaxon's metrics
// (or a series of a histogram of it), or a standard process/Go metric.
func checkMetricName(t *testing.T, where, name string) {
	t.Helper()
	if otherMetrics.MatchString(name) {
		return
	}
	base, ok := strings.CutPrefix(name, "klaxon_")
	if !ok {
		t.Errorf("%s: metric %q is neither Klaxon's (klaxon_*) nor a standard process/Go metric", where, name)
		return
	}
	lits := sourceLiterals(t)
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		b, ok := strings.CutSuffix(base, suffix)
		if !ok {
			continue
		}
		if lits["klaxon_"+b] || lits[b] || registeredElsewhere["klaxon_"+b] {
			return
		}
	}
	t.Errorf("%s: metric %q is not registered anywhere in Klaxon's source", where, name)
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (status) (rate(klaxon_alerts_received_total{job=~"$job"}[$__rate_interval]))`:                 "klaxon_alerts_received_total",
		`histogram_quantile(0.99, sum by (le) (rate(klaxon_notification_latency_seconds_bucket{a="b"}[5m])))`: "klaxon_notification_latency_seconds_bucket",
		`(sum(up{job="klaxon", namespace="x"}) or vector(0)) < 3`:                                             "up",
		`max by (namespace) (klaxon_outbox_pending{job="k"}) > 100`:                                           "klaxon_outbox_pending",
		`absent(up{job="klaxon"} == 1)`:                                                                       "up",
		`process_resident_memory_bytes{instance=~"$instance"} / on (instance) go_memstats_heap_inuse_bytes`:   "process_resident_memory_bytes go_memstats_heap_inuse_bytes",
		`vector(1) > 0`: "",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}
