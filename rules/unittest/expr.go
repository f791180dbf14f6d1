package unittest

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// checkExprs runs the promql_expr_test cases against the loaded series
// and the samples the recording rules wrote.
func (r *runner) checkExprs() []error {
	var errs []error
	for _, tc := range r.tg.PromqlExprTests {
		got, err := query(r.suite.Context(), tc.Expr, r.mint.Add(time.Duration(tc.EvalTime)), r.suite)
		if err != nil {
			errs = append(errs, fmt.Errorf("    expr: %q, time: %s, err: %s", tc.Expr, tc.EvalTime.String(), err.Error()))
			continue
		}
		var gotSamples []parsedSample
		for _, s := range got {
			gotSamples = append(gotSamples, parsedSample{Labels: s.Metric.Copy(), Value: s.F, Histogram: promqltest.HistogramTestExpression(s.H)})
		}
		expSamples, err := expected(tc)
		if err != nil {
			errs = append(errs, fmt.Errorf("    expr: %q, time: %s, err: %w", tc.Expr, tc.EvalTime.String(), err))
			continue
		}
		sort.Slice(expSamples, func(i, j int) bool { return labels.Compare(expSamples[i].Labels, expSamples[j].Labels) <= 0 })
		sort.Slice(gotSamples, func(i, j int) bool { return labels.Compare(gotSamples[i].Labels, gotSamples[j].Labels) <= 0 })
		if !equalSamples(expSamples, gotSamples, r.fuzzy) {
			errs = append(errs, fmt.Errorf("    expr: %q, time: %s,\n        exp: %v\n        got: %v", tc.Expr,
				tc.EvalTime.String(), parsedSamplesString(expSamples), parsedSamplesString(gotSamples)))
		}
	}
	return errs
}

func expected(tc promqlTestCase) ([]parsedSample, error) {
	var out []parsedSample
	for _, s := range tc.ExpSamples {
		lb, err := promqlParser.ParseMetric(s.Labels)
		var hist *histogram.FloatHistogram
		if err == nil && s.Histogram != "" {
			_, values, perr := promqlParser.ParseSeriesDesc("{} " + s.Histogram)
			switch {
			case perr != nil:
				err = perr
			case len(values) != 1:
				err = fmt.Errorf("expected 1 value, got %d", len(values))
			case values[0].Histogram == nil:
				err = fmt.Errorf("expected histogram, got %v", values[0])
			default:
				hist = values[0].Histogram
			}
		}
		if err != nil {
			return nil, fmt.Errorf("labels %q: %w", s.Labels, err)
		}
		out = append(out, parsedSample{Labels: lb, Value: s.Value, Histogram: promqltest.HistogramTestExpression(hist)})
	}
	return out, nil
}

// equalSamples compares as promtool's cmp.Equal does: floats with ==
// (so NaN never equals), or within one ULP with fuzzy_compare.
func equalSamples(a, b []parsedSample, fuzzy bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !labels.Equal(a[i].Labels, b[i].Labels) || a[i].Histogram != b[i].Histogram || !equalFloat(a[i].Value, b[i].Value, fuzzy) {
			return false
		}
	}
	return true
}

func equalFloat(x, y float64, fuzzy bool) bool {
	if x == y {
		return true
	}
	return fuzzy && (math.Nextafter(x, math.Inf(-1)) == y || math.Nextafter(x, math.Inf(1)) == y)
}
