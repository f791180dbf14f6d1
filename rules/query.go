package rules

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/config"
)

// QueryFunc is the one small seam between the evaluator and its data
// source: an instant query at a time. Prometheus's HTTP API in
// production, an in-process engine in `klaxon rules test`.
type QueryFunc = promrules.QueryFunc

// NewPrometheusQueryFunc returns a QueryFunc that runs instant queries on
// the Prometheus cfg names, through its HTTP API.
func NewPrometheusQueryFunc(cfg config.Prometheus) (QueryFunc, error) {
	rt, err := commoncfg.NewRoundTripperFromConfig(cfg.HTTPConfig, "klaxon_rules")
	if err != nil {
		return nil, fmt.Errorf("prometheus.http_config: %w", err)
	}
	if len(cfg.Headers) > 0 {
		rt = headerRoundTripper{headers: cfg.Headers, next: rt}
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus.url: %w", err)
	}
	q := promv1.NewAPI(client)
	timeout := time.Duration(cfg.Timeout)
	return func(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		v, _, _, err := q.Query(ctx, expr, ts, promv1.WithTimeout(timeout))
		if err != nil {
			return nil, fmt.Errorf("query Prometheus at %s: %w", cfg.URL, err)
		}
		return toVector(v, ts)
	}, nil
}

// toVector converts an API result as rules.EngineQueryFunc converts an
// engine result: vectors stay, a scalar becomes one sample without labels.
func toVector(v model.Value, ts time.Time) (promql.Vector, error) {
	switch v := v.(type) {
	case model.Vector:
		out := make(promql.Vector, 0, len(v))
		for _, s := range v {
			if s.Histogram != nil {
				return nil, fmt.Errorf("series %s: native histogram results are not supported in rule expressions", s.Metric)
			}
			b := labels.NewScratchBuilder(len(s.Metric))
			for n, val := range s.Metric {
				b.Add(string(n), string(val))
			}
			b.Sort()
			out = append(out, promql.Sample{Metric: b.Labels(), T: int64(s.Timestamp), F: float64(s.Value)})
		}
		return out, nil
	case *model.Scalar:
		return promql.Vector{{Metric: labels.EmptyLabels(), T: int64(v.Timestamp), F: float64(v.Value)}}, nil
	default:
		return nil, fmt.Errorf("rule result is not a vector or scalar: %s", v.Type())
	}
}

type headerRoundTripper struct {
	headers map[string]string
	next    http.RoundTripper
}

func (h headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.next.RoundTrip(r)
}
