// Package unittest runs `promtool test rules` files through Klaxon's rule
// evaluator: the same rules.Build groups, state machine and templates as
// `klaxon serve`, with an in-process PromQL engine over promqltest-loaded
// series as the data source.
//
// The flow, the file format and the messages are ported from Prometheus's
// cmd/promtool/unittest.go (Apache 2.0), which is package main and cannot
// be imported; a test file passes and fails here exactly where it does
// under promtool of the Prometheus version in go.mod.
package unittest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	promrules "github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/junitxml"
	"go.yaml.in/yaml/v2"

	"github.com/klaxon-dev/klaxon/rules"
)

// Options select the files and report of a run.
type Options struct {
	Files []string
	// Run, if set, runs only test groups whose name matches one of these
	// regular expressions.
	Run []string
	// JUnit, if set, is the path of a JUnit XML report.
	JUnit string
}

var promqlParser = parser.NewParser(parser.Options{})

// Main runs the tests and prints promtool's output; it returns the exit
// status: 0 if all passed, 1 otherwise.
func Main(out, errOut io.Writer, opts Options) int {
	var run *regexp.Regexp
	if opts.Run != nil {
		var err error
		if run, err = regexp.Compile(strings.Join(opts.Run, "|")); err != nil {
			fmt.Fprintln(errOut, "klaxon: --run:", err)
			return 1
		}
	}
	junit := &junitxml.JUnitXML{}
	failed := false
	for _, f := range opts.Files {
		fmt.Fprintf(out, "Processing test file: %s\n", f)
		if errs := testFile(errOut, f, run, junit.Suite(f)); errs != nil {
			fmt.Fprintln(errOut, "  FAILED:")
			for _, e := range errs {
				fmt.Fprintln(errOut, e.Error())
				fmt.Fprintln(out)
			}
			failed = true
		} else {
			fmt.Fprintln(out, "  SUCCESS")
		}
		fmt.Fprintln(out)
	}
	if opts.JUnit != "" {
		w, err := os.Create(opts.JUnit)
		if err == nil {
			err = errors.Join(junit.WriteXML(w), w.Close())
		}
		if err != nil {
			fmt.Fprintf(errOut, "failed to write JUnit XML: %s\n", err)
		}
	}
	if failed {
		return 1
	}
	return 0
}

func testFile(errOut io.Writer, filename string, run *regexp.Regexp, ts *junitxml.TestSuite) []error {
	b, err := os.ReadFile(filename)
	if err != nil {
		ts.Abort(err)
		return []error{err}
	}
	var utf unitTestFile
	if err := yaml.UnmarshalStrict(b, &utf); err != nil {
		ts.Abort(err)
		return []error{err}
	}
	if err := resolveAndGlob(errOut, filepath.Dir(filename), &utf); err != nil {
		ts.Abort(err)
		return []error{err}
	}
	if utf.EvaluationInterval == 0 {
		utf.EvaluationInterval = model.Duration(time.Minute)
	}
	ts.Settime(time.Now().Format("2006-01-02T15:04:05"))
	order := map[string]int{}
	for i, gn := range utf.GroupEvalOrder {
		if _, ok := order[gn]; ok {
			err := fmt.Errorf("group name repeated in evaluation order: %s", gn)
			ts.Abort(err)
			return []error{err}
		}
		order[gn] = i
	}
	var errs []error
	for i, t := range utf.Tests {
		if run != nil && !run.MatchString(t.TestGroupName) {
			continue
		}
		name := t.TestGroupName
		if name == "" {
			name = fmt.Sprintf("unnamed#%d", i)
		}
		tc := ts.Case(name)
		if t.Interval == 0 {
			t.Interval = utf.EvaluationInterval
		}
		r := &runner{tg: &t, evalInterval: time.Duration(utf.EvaluationInterval), order: order, fuzzy: utf.FuzzyCompare}
		ers := r.test(utf.RuleFiles)
		for _, e := range ers {
			tc.Fail(e.Error())
		}
		errs = append(errs, ers...)
	}
	return errs
}

// resolveAndGlob makes rule_files relative to the test file and expands
// globs, warning about patterns that match nothing.
func resolveAndGlob(errOut io.Writer, baseDir string, utf *unitTestFile) error {
	var files []string
	for _, rf := range utf.RuleFiles {
		if rf != "" && !filepath.IsAbs(rf) {
			rf = filepath.Join(baseDir, rf)
		}
		m, err := filepath.Glob(rf)
		if err != nil {
			return err
		}
		if len(m) == 0 {
			fmt.Fprintln(errOut, "  WARNING: no file match pattern", rf)
		}
		files = append(files, m...)
	}
	utf.RuleFiles = files
	return nil
}

// runner runs one test group.
type runner struct {
	tg           *testGroup
	evalInterval time.Duration
	order        map[string]int
	fuzzy        bool
	suite        *promqltest.LazyLoader
	groups       []*promrules.Group
	mint         time.Time
}

func (r *runner) test(ruleFiles []string) (outErr []error) {
	suite, err := promqltest.NewLazyLoader(r.tg.seriesLoadingString(), promqltest.LazyLoaderOpts{
		EnableAtModifier: true, EnableNegativeOffset: true,
		StartTime: r.tg.StartTimestamp.Time, Parser: promqlParser,
	})
	if err != nil {
		return []error{err}
	}
	defer func() {
		if err := suite.Close(); err != nil {
			outErr = append(outErr, err)
		}
	}()
	suite.SubqueryInterval = r.evalInterval
	r.suite = suite
	if errs := r.loadGroups(ruleFiles); errs != nil {
		return errs
	}
	r.mint = time.Unix(0, 0).UTC()
	if !r.tg.StartTimestamp.IsZero() {
		r.mint = r.tg.StartTimestamp.Time
	}
	for _, a := range r.tg.AlertRuleTests {
		if a.Alertname == "" {
			where := ""
			if r.tg.TestGroupName != "" {
				where = fmt.Sprintf(" (in TestGroup %s)", r.tg.TestGroupName)
			}
			return []error{fmt.Errorf("an item under alert_rule_test misses required attribute alertname at eval_time %v%s", a.EvalTime, where)}
		}
	}
	errs, stop := r.evalAlerts()
	if stop {
		return errs
	}
	errs = append(errs, r.checkExprs()...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// loadGroups loads the rule files with Klaxon's loader and builds the
// groups exactly as the evaluator does, in group_eval_order.
func (r *runner) loadGroups(ruleFiles []string) []error {
	opts := &promrules.ManagerOptions{
		QueryFunc:    promrules.EngineQueryFunc(r.suite.QueryEngine(), r.suite.Storage()),
		AppendableV2: r.suite.Storage(),
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*promrules.Alert) {},
		Logger:       slog.New(slog.DiscardHandler),
		Parser:       promqlParser,
		Metrics:      promrules.NewGroupMetrics(nil),
	}
	var errs []error
	for _, fn := range ruleFiles {
		f := rules.LoadFile(fn)
		if err := f.Err(); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, g := range f.Groups {
			pg, err := rules.Build(g, time.Duration(r.tg.Interval), r.tg.ExternalLabels, r.tg.ExternalURL, opts, false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r.groups = append(r.groups, pg)
		}
	}
	if errs != nil {
		return errs
	}
	sort.SliceStable(r.groups, func(i, j int) bool {
		return r.order[r.groups[i].Name()] < r.order[r.groups[j].Name()]
	})
	return nil
}

// evalAlerts evaluates every group at every evaluation interval from the
// start to the last eval_time, and compares the firing alerts at each
// alert_rule_test's eval_time. stop is true when a rule failed to
// evaluate, which ends the test as in promtool.
func (r *runner) evalAlerts() (errs []error, stop bool) {
	tests := map[model.Duration][]alertTestCase{}
	var times []model.Duration
	for _, a := range r.tg.AlertRuleTests {
		if _, ok := tests[a.EvalTime]; !ok {
			times = append(times, a.EvalTime)
		}
		tests[a.EvalTime] = append(tests[a.EvalTime], a)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	curr := 0
	maxt := r.mint.Add(r.tg.maxEvalTime())
	for ts := r.mint; !ts.After(maxt); ts = ts.Add(r.evalInterval) {
		var evalErrs []error
		r.suite.WithSamplesTill(ts, func(err error) {
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, g := range r.groups {
				g.Eval(r.suite.Context(), ts)
				for _, rule := range g.Rules() {
					if rule.LastError() != nil {
						evalErrs = append(evalErrs, fmt.Errorf("    rule: %s, time: %s, err: %w",
							rule.Name(), ts.Sub(time.Unix(0, 0).UTC()), rule.LastError()))
					}
				}
			}
		})
		errs = append(errs, evalErrs...)
		if len(evalErrs) > 0 {
			return errs, true
		}
		// An eval_time in [ts, ts+interval) is checked against the
		// evaluation at ts.
		for curr < len(times) && ts.Sub(r.mint) <= time.Duration(times[curr]) &&
			time.Duration(times[curr]) < ts.Add(r.evalInterval).Sub(r.mint) {
			errs = append(errs, r.compareAlerts(tests[times[curr]])...)
			curr++
		}
	}
	return errs, false
}

// firing collects the firing alerts of the named rules across groups.
func (r *runner) firing(names map[string]bool) map[string]labelsAndAnnotations {
	got := map[string]labelsAndAnnotations{}
	for _, g := range r.groups {
		for _, rule := range g.Rules() {
			ar, ok := rule.(*promrules.AlertingRule)
			if !ok || !names[ar.Name()] {
				continue
			}
			var as labelsAndAnnotations
			for _, a := range ar.ActiveAlerts() {
				if a.State == promrules.StateFiring {
					as = append(as, labelAndAnnotation{Labels: a.Labels.Copy(), Annotations: a.Annotations.Copy()})
				}
			}
			got[ar.Name()] = append(got[ar.Name()], as...)
		}
	}
	return got
}

func (r *runner) compareAlerts(cases []alertTestCase) []error {
	names := map[string]bool{}
	for _, c := range cases {
		names[c.Alertname] = true
	}
	got := r.firing(names)
	var errs []error
	for _, c := range cases {
		gotAlerts := got[c.Alertname]
		var exp labelsAndAnnotations
		for _, a := range c.ExpAlerts {
			l := map[string]string{}
			for k, v := range a.ExpLabels {
				l[k] = v
			}
			// The rule adds alertname; test authors leave it out.
			l[labels.AlertName] = c.Alertname
			exp = append(exp, labelAndAnnotation{Labels: labels.FromMap(l), Annotations: labels.FromMap(a.ExpAnnotations)})
		}
		sort.Sort(gotAlerts)
		sort.Sort(exp)
		if !equalAlerts(exp, gotAlerts, r.fuzzy) {
			name := ""
			if r.tg.TestGroupName != "" {
				name = fmt.Sprintf("    name: %s,\n", r.tg.TestGroupName)
			}
			errs = append(errs, fmt.Errorf("%s    alertname: %s, time: %s, \n        exp:%v, \n        got:%v",
				name, c.Alertname, c.EvalTime.String(), indentLines(exp.String(), "            "), indentLines(gotAlerts.String(), "            ")))
		}
	}
	return errs
}

// equalAlerts compares as promtool does; alerts carry no floats, so
// fuzzy_compare does not apply.
func equalAlerts(a, b labelsAndAnnotations, _ bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !labels.Equal(a[i].Labels, b[i].Labels) || !labels.Equal(a[i].Annotations, b[i].Annotations) {
			return false
		}
	}
	return true
}

// query runs an instant query, turning a scalar into a one-sample vector
// as rules.EngineQueryFunc does.
func query(ctx context.Context, qs string, t time.Time, suite *promqltest.LazyLoader) (promql.Vector, error) {
	return promrules.EngineQueryFunc(suite.QueryEngine(), suite.Queryable())(ctx, qs, t)
}
