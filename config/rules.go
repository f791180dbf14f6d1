package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Rules configures the rule evaluator: which rule files to load and how
// to evaluate them. The defaults are Prometheus's.
type Rules struct {
	// Files are rule files, globs and directories (searched recursively
	// for *.yml and *.yaml), relative to the configuration file.
	Files []string `yaml:"files"`
	// EvaluationInterval applies to groups that set no interval.
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	// QueryOffset applies to groups that set no query_offset.
	QueryOffset model.Duration `yaml:"query_offset"`
	// ResendDelay is how long to wait before re-sending a firing alert
	// (Prometheus's --rules.alert.resend-delay).
	ResendDelay model.Duration `yaml:"resend_delay"`
	// OutageTolerance is how long Klaxon may be down and still restore
	// alert state from the database on start; after a longer outage
	// state starts fresh (Prometheus's --rules.alert.for-outage-tolerance).
	OutageTolerance model.Duration `yaml:"outage_tolerance"`
	// ForGracePeriod is the least time a restored pending alert still
	// waits before it fires (Prometheus's --rules.alert.for-grace-period).
	ForGracePeriod model.Duration `yaml:"for_grace_period"`
	// MaxConcurrentGroups bounds how many groups evaluate at once.
	MaxConcurrentGroups int `yaml:"max_concurrent_groups"`
}

// DefaultRules are used for keys the file leaves out.
var DefaultRules = Rules{
	EvaluationInterval:  model.Duration(time.Minute),
	ResendDelay:         model.Duration(time.Minute),
	OutageTolerance:     model.Duration(time.Hour),
	ForGracePeriod:      model.Duration(10 * time.Minute),
	MaxConcurrentGroups: 16,
}

// Prometheus names the Prometheus that rules are evaluated against.
type Prometheus struct {
	// URL is the Prometheus base URL, e.g. http://prometheus:9090.
	URL string `yaml:"url"`
	// HTTPConfig is Prometheus's http_config: basic_auth, authorization
	// (bearer), oauth2, tls_config, proxy, http_headers.
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
	// Headers are extra request headers.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds each query.
	Timeout model.Duration `yaml:"timeout"`
	// ExternalLabels are added to alerts that lack them and are
	// $externalLabels in templates.
	ExternalLabels map[string]string `yaml:"external_labels"`
	// ExternalURL is $externalURL in templates and the base of each
	// alert's generatorURL; it defaults to URL.
	ExternalURL string `yaml:"external_url"`
	// RemoteWrite, if set, receives the samples of recording rules (and
	// the ALERTS series) through Prometheus remote write; without it
	// recording rules are loaded and validated but not evaluated.
	RemoteWrite []RemoteWrite `yaml:"remote_write"`
}

// RemoteWrite is one remote-write endpoint.
type RemoteWrite struct {
	URL        string                     `yaml:"url"`
	Timeout    model.Duration             `yaml:"remote_timeout"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
}

// DefaultPrometheus is used for keys the file leaves out.
var DefaultPrometheus = Prometheus{
	Timeout:    model.Duration(2 * time.Minute),
	HTTPConfig: commoncfg.DefaultHTTPClientConfig,
}

// applyRules validates and completes the rules and prometheus keys.
func (c *Config) applyRules(own klaxonKeys, dir string) error {
	c.Rules = DefaultRules
	if r := own.Rules; r != nil {
		c.Rules.Files = r.Files
		if r.EvaluationInterval != 0 {
			c.Rules.EvaluationInterval = r.EvaluationInterval
		}
		c.Rules.QueryOffset = r.QueryOffset
		if r.ResendDelay != 0 {
			c.Rules.ResendDelay = r.ResendDelay
		}
		if r.OutageTolerance != 0 {
			c.Rules.OutageTolerance = r.OutageTolerance
		}
		if r.ForGracePeriod != 0 {
			c.Rules.ForGracePeriod = r.ForGracePeriod
		}
		if r.MaxConcurrentGroups > 0 {
			c.Rules.MaxConcurrentGroups = r.MaxConcurrentGroups
		}
	}
	for i, f := range c.Rules.Files {
		if f != "" && !filepath.IsAbs(f) {
			c.Rules.Files[i] = filepath.Join(dir, f)
		}
	}
	c.Prometheus = DefaultPrometheus
	if p := own.Prometheus; p != nil {
		c.Prometheus = *p
		if c.Prometheus.Timeout == 0 {
			c.Prometheus.Timeout = DefaultPrometheus.Timeout
		}
	}
	c.Prometheus.HTTPConfig.SetDirectory(dir)
	for i := range c.Prometheus.RemoteWrite {
		rw := &c.Prometheus.RemoteWrite[i]
		rw.HTTPConfig.SetDirectory(dir)
		if rw.URL == "" {
			return fmt.Errorf("prometheus.remote_write[%d]: url is required", i)
		}
		if rw.Timeout == 0 {
			rw.Timeout = model.Duration(30 * time.Second)
		}
	}
	if len(c.Rules.Files) > 0 && c.Prometheus.URL == "" {
		return errors.New("rules.files is set but prometheus.url is not: rules need a Prometheus to query")
	}
	for key, u := range map[string]string{"prometheus.url": c.Prometheus.URL, "prometheus.external_url": c.Prometheus.ExternalURL} {
		if err := absoluteURL(u); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	for i, rw := range c.Prometheus.RemoteWrite {
		if err := absoluteURL(rw.URL); err != nil {
			return fmt.Errorf("prometheus.remote_write[%d].url: %w", i, err)
		}
	}
	if c.Prometheus.URL != "" {
		if err := c.Prometheus.HTTPConfig.Validate(); err != nil {
			return fmt.Errorf("prometheus.http_config: %w", err)
		}
	}
	return nil
}

// absoluteURL accepts "" and absolute http(s) URLs, so that a typo fails
// the configuration instead of every query.
func absoluteURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
