package config

import (
	"strings"
	"testing"
	"time"
)

const minimalRoute = "route:\n  receiver: r\nreceivers:\n  - name: r\n"

func TestRulesAndPrometheusKeys(t *testing.T) {
	cfg, err := Load([]byte(minimalRoute+`rules:
  files: [rules/, /abs/x.yml]
  evaluation_interval: 30s
prometheus:
  url: http://prometheus:9090
  http_config:
    basic_auth: {username: u, password: p}
  headers: {X-Scope-OrgID: a}
  external_labels: {cluster: eu1}
`), "/etc/klaxon")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Rules.Files; len(got) != 2 || got[0] != "/etc/klaxon/rules" || got[1] != "/abs/x.yml" {
		t.Errorf("rule paths are relative to the configuration file: %v", got)
	}
	if time.Duration(cfg.Rules.EvaluationInterval) != 30*time.Second || time.Duration(cfg.Rules.OutageTolerance) != time.Hour ||
		time.Duration(cfg.Rules.ResendDelay) != time.Minute {
		t.Errorf("given and default durations: %+v", cfg.Rules)
	}
	p := cfg.Prometheus
	if p.URL != "http://prometheus:9090" || p.HTTPConfig.BasicAuth == nil || p.HTTPConfig.BasicAuth.Username != "u" ||
		p.Headers["X-Scope-OrgID"] != "a" || p.ExternalLabels["cluster"] != "eu1" || time.Duration(p.Timeout) != 2*time.Minute {
		t.Errorf("prometheus: %+v", p)
	}
	if cfg.Alertmanager.Route.Receiver != "r" {
		t.Error("the alertmanager.yml part still loads")
	}
}

func TestRulesKeyErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"rules:\n  files: [x]\n", "prometheus.url"},
		{"rules:\n  filez: [x]\nprometheus:\n  url: http://p\n", "line 6"},
		{"prometheus:\n  url: http://p\n  remote_write: [{}]\n", "remote_write[0]: url is required"},
		{"prometheus:\n  url: prometheus:9090\n", "not an absolute http(s) URL"},
	} {
		_, err := Load([]byte(minimalRoute+tc.text), ".")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: want an error about %q, got %v", tc.text, tc.want, err)
		}
	}
}
