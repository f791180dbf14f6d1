// Package config loads Klaxon's configuration file: an alertmanager.yml,
// read unchanged by Alertmanager's own config package, plus Klaxon's own
// top-level keys. Errors name the file and the line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/matcher/compat"
	"gopkg.in/yaml.v3"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
)

// Config is a validated configuration. It is replaced as a whole on reload
// and never mutated after Load returns.
type Config struct {
	// Alertmanager is the alertmanager.yml part, parsed by Alertmanager.
	Alertmanager *amconfig.Config
	// Incidents holds Klaxon's incident settings.
	Incidents Incidents
	// Rules configures the rule evaluator.
	Rules Rules
	// Prometheus is the Prometheus that rules are evaluated against.
	Prometheus Prometheus
	// OnCall holds the users, schedules and escalation policies of the
	// file (keys users, schedules, escalation_policies).
	OnCall oncall.Config
	// Auth is access control (config/auth.go).
	Auth Auth
	// File is the path the configuration was read from.
	File string
	// Original is the file's text as read.
	Original string
}

// Incidents configures how flushed alert groups become incidents.
type Incidents struct {
	// TitleTemplate is an Alertmanager template (same data as notification
	// templates) that titles a new incident.
	TitleTemplate string `yaml:"title_template"`
	// SeverityTemplate and ServiceTemplate, with the same data, give a new
	// incident its severity and service; an empty result leaves it empty.
	SeverityTemplate string `yaml:"severity_template"`
	ServiceTemplate  string `yaml:"service_template"`
	// Work is the rest (re-open window, ack timeout, escalation, hook
	// secrets, link templates; config/incidents.go); nil means defaults.
	Work *IncidentWork `yaml:"-"`
}

// DefaultIncidents are used for keys the file leaves out.
var DefaultIncidents = Incidents{
	TitleTemplate: `{{ if .CommonLabels.alertname }}{{ .CommonLabels.alertname }}{{ else }}{{ .GroupLabels.SortedPairs.Values | join " " }}{{ end }}` +
		`{{ with .CommonAnnotations.summary }}: {{ . }}{{ end }}`,
	SeverityTemplate: `{{ .CommonLabels.severity }}`,
	ServiceTemplate: `{{ with .CommonLabels.service }}{{ . }}{{ else }}{{ with .CommonLabels.job }}{{ . }}{{ else }}` +
		`{{ .CommonLabels.app }}{{ end }}{{ end }}`,
}

// klaxonKeys are the top-level keys that Klaxon reads itself; every other key
// belongs to alertmanager.yml and goes to Alertmanager's parser, which
// rejects unknown ones.
type klaxonKeys struct {
	Incidents *incidentKeys `yaml:"incidents"`
	// rules and prometheus (config/rules.go).
	Rules      *Rules      `yaml:"rules"`
	Prometheus *Prometheus `yaml:"prometheus"`
	// auth (config/auth.go).
	Auth *Auth `yaml:"auth"`

	// users, schedules and escalation_policies (config/oncall.go).
	onCallKeys `yaml:",inline"`
}

var ownKeys = map[string]bool{"incidents": true, "users": true, "schedules": true, "escalation_policies": true,
	"rules": true, "prometheus": true, "auth": true}

// LoadFile reads and validates the configuration at path.
func LoadFile(path string) (*Config, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	cfg, err := Load(content, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("load config file %s: %w", path, err)
	}
	cfg.File = path
	return cfg, nil
}

// Load parses configuration text. Relative paths in it (templates, TLS and
// credential files) are resolved against dir.
func Load(content []byte, dir string) (*Config, error) {
	amText, ownText, err := split(content)
	if err != nil {
		return nil, err
	}
	am, err := amconfig.Load(amText)
	if err != nil {
		return nil, err
	}
	resolvePaths(dir, am)

	own := klaxonKeys{}
	dec := yaml.NewDecoder(strings.NewReader(ownText))
	dec.KnownFields(true)
	if err := dec.Decode(&own); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	cfg := &Config{Alertmanager: am, Incidents: DefaultIncidents, Original: string(content)}
	if own.Incidents != nil {
		for _, k := range []struct{ own, dst *string }{
			{&own.Incidents.TitleTemplate, &cfg.Incidents.TitleTemplate},
			{&own.Incidents.SeverityTemplate, &cfg.Incidents.SeverityTemplate},
			{&own.Incidents.ServiceTemplate, &cfg.Incidents.ServiceTemplate},
		} {
			if *k.own != "" {
				*k.dst = *k.own
			}
		}
		if err := cfg.applyIncidentWork(&own.Incidents.IncidentWork, dir); err != nil {
			return nil, err
		}
	}
	if err := cfg.Incidents.check(am.Templates); err != nil {
		return nil, err
	}
	if err := loadOnCall(cfg, &own.onCallKeys, ownText); err != nil {
		return nil, err
	}
	if err := cfg.applyRules(own, dir); err != nil {
		return nil, err
	}
	if err := cfg.applyAuth(own.Auth); err != nil {
		return nil, err
	}
	return cfg, nil
}

// split divides the file into the alertmanager.yml text and Klaxon's text.
// Each keeps the other's lines as blank lines, so that both parsers report
// line numbers of the original file.
func split(content []byte) (am, own string, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return "", "", err
	}
	lines := strings.SplitAfter(string(content), "\n")
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		// Empty or not a mapping: Alertmanager's parser gives the error.
		return string(content), "", nil
	}
	root := doc.Content[0]
	if root.Style&yaml.FlowStyle != 0 {
		return "", "", errors.New("line 1: the top level must be a block mapping, not a flow mapping")
	}
	// Each top-level key owns the lines from its own line up to the next
	// key's line.
	owner := make([]bool, len(lines)) // true: the line is Klaxon's
	for i := 0; i < len(root.Content); i += 2 {
		key := root.Content[i]
		start := key.Line - 1
		end := len(lines)
		if i+2 < len(root.Content) {
			end = root.Content[i+2].Line - 1
		}
		if ownKeys[key.Value] {
			for l := start; l < end && l < len(lines); l++ {
				owner[l] = true
			}
		}
	}
	var amb, ownb bytes.Buffer
	for i, l := range lines {
		blank := ""
		if strings.HasSuffix(l, "\n") {
			blank = "\n"
		}
		if owner[i] {
			ownb.WriteString(l)
			amb.WriteString(blank)
		} else {
			amb.WriteString(l)
			ownb.WriteString(blank)
		}
	}
	return amb.String(), ownb.String(), nil
}

// resolvePaths mirrors what Alertmanager's LoadFile does for files named
// relative to the configuration file.
func resolvePaths(dir string, cfg *amconfig.Config) {
	for i, tf := range cfg.Templates {
		if tf != "" && !filepath.IsAbs(tf) {
			cfg.Templates[i] = filepath.Join(dir, tf)
		}
	}
	cfg.Global.HTTPConfig.SetDirectory(dir)
	for _, r := range cfg.Receivers {
		for _, c := range r.WebhookConfigs {
			c.HTTPConfig.SetDirectory(dir)
		}
		for _, c := range r.SlackConfigs {
			c.HTTPConfig.SetDirectory(dir)
		}
		for _, c := range r.PagerdutyConfigs {
			c.HTTPConfig.SetDirectory(dir)
		}
		for _, c := range r.OpsGenieConfigs {
			c.HTTPConfig.SetDirectory(dir)
		}
	}
}

// ResolveTimeout is how long an alert without endsAt stays firing after its
// last update.
func (c *Config) ResolveTimeout() time.Duration {
	return time.Duration(c.Alertmanager.Global.ResolveTimeout)
}

// Receiver returns the named receiver, or nil.
func (c *Config) Receiver(name string) *amconfig.Receiver {
	for i := range c.Alertmanager.Receivers {
		if c.Alertmanager.Receivers[i].Name == name {
			return &c.Alertmanager.Receivers[i]
		}
	}
	return nil
}

// InitMatchers selects Alertmanager's default matcher and label-name
// parsing (UTF-8 names, with the classic parser as fallback), as the
// alertmanager binary does at start. Alertmanager keeps this choice in
// package state that defaults to the classic parser, so every program that
// parses configuration or validates alerts must call this once, first.
func InitMatchers(logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	compat.InitFromFlags(logger, featurecontrol.NoopFlags{})
}
