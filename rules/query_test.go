package rules

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/klaxon-dev/klaxon/config"
)

func TestPrometheusQueryFuncSendsAuthAndHeaders(t *testing.T) {
	var gotAuth, gotTenant, gotQuery, gotTime string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		gotAuth, gotTenant = r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID")
		gotQuery, gotTime = r.Form.Get("query"), r.Form.Get("time")
		w.Header().Set("Content-Type", "application/json")
		if gotQuery == "scalar(1)" {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}`)
			return
		}
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"api"},"value":[1700000000,"0"]}]}}`)
	}))
	defer srv.Close()
	cfg := config.DefaultPrometheus
	cfg.URL = srv.URL
	cfg.HTTPConfig.Authorization = &commoncfg.Authorization{Type: "Bearer", Credentials: "s3cret"}
	cfg.Headers = map[string]string{"X-Scope-OrgID": "team-a"}
	q, err := NewPrometheusQueryFunc(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	v, err := q(context.Background(), "up == 0", ts)
	if err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer s3cret" || gotTenant != "team-a" || gotQuery != "up == 0" || gotTime != "1700000000" {
		t.Errorf("request: auth %q, tenant %q, query %q, time %q", gotAuth, gotTenant, gotQuery, gotTime)
	}
	if len(v) != 1 || v[0].Metric.Get("job") != "api" || v[0].F != 0 || v[0].T != ts.UnixMilli() {
		t.Errorf("vector: %v", v)
	}
	v, err = q(context.Background(), "scalar(1)", ts)
	if err != nil || len(v) != 1 || v[0].Metric.Len() != 0 || v[0].F != 1 {
		t.Errorf("a scalar becomes one sample without labels: %v %v", v, err)
	}
}

func TestPrometheusQueryFuncReportsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error: unexpected end of input"}`)
	}))
	defer srv.Close()
	cfg := config.DefaultPrometheus
	cfg.URL = srv.URL
	q, err := NewPrometheusQueryFunc(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q(context.Background(), "up ==", time.Now()); err == nil || !strings.Contains(err.Error(), "unexpected end of input") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("want the reason and the Prometheus in the error, got %v", err)
	}
}
