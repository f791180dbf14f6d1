package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// IncidentWork configures what happens to an incident after it opens:
// re-opening, ack timeouts, escalation through policies, the secrets of
// the inbound ack hooks and the link templates. Keys under incidents:.
type IncidentWork struct {
	// ReopenWindow: a group that fires again within this time after its
	// incident resolved re-opens that incident instead of opening a new
	// one. 0 disables re-opening.
	ReopenWindow model.Duration `yaml:"reopen_window"`
	// AckTimeout: an acknowledged incident still firing this long after
	// the ack is triggered again and re-paged. 0 disables it.
	AckTimeout model.Duration `yaml:"ack_timeout"`
	// Escalation maps receivers to the escalation policy their incidents
	// page through.
	Escalation []EscalationRoute `yaml:"escalation"`
	// SlackSigningSecret verifies Slack interactions (the app's signing
	// secret); without it /hooks/slack/interactions answers 404.
	SlackSigningSecret     string `yaml:"slack_signing_secret"`
	SlackSigningSecretFile string `yaml:"slack_signing_secret_file"`
	// PagerDutyWebhookSecret verifies PagerDuty v3 webhooks; without it
	// /hooks/pagerduty answers 404.
	PagerDutyWebhookSecret     string `yaml:"pagerduty_webhook_secret"`
	PagerDutyWebhookSecretFile string `yaml:"pagerduty_webhook_secret_file"`
	// AckLinkSecret signs the ack links of emails; without it emails
	// carry none.
	AckLinkSecret     string `yaml:"ack_link_secret"`
	AckLinkSecretFile string `yaml:"ack_link_secret_file"`
	// AckLinkTTL is how long an ack link works; default 24h.
	AckLinkTTL model.Duration `yaml:"ack_link_ttl"`
	// Links are templates of links every incident gets (dashboards,
	// traces, logs), rendered from its labels and times.
	Links []LinkTemplate `yaml:"links"`
}

// EscalationRoute makes a receiver's incidents page through a policy.
type EscalationRoute struct {
	Receiver string `yaml:"receiver"`
	Policy   string `yaml:"policy"`
}

// LinkTemplate is a Go text/template of a URL. It sees .Labels (the
// incident's and its alerts'), .Service (the service label), .Receiver,
// .Start and .End (the incident's window, until now while it is open; also
// .StartRFC3339 / .EndRFC3339 and Unix milliseconds .StartMillis /
// .EndMillis) and .TraceID (the alerts' trace_id annotation). A template
// naming .TraceID is left out for incidents without one, so a Tempo or
// Jaeger trace link and a trace search by service can sit side by side.
type LinkTemplate struct {
	Kind  string `yaml:"kind"` // dashboard, trace, logs, or another word
	Title string `yaml:"title"`
	URL   string `yaml:"url"`
}

// incidentKeys are the keys under incidents:.
type incidentKeys struct {
	Incidents    `yaml:",inline"`
	IncidentWork `yaml:",inline"`
}

// defaultAckLinkTTL is the lifetime of an email ack link unless configured.
const defaultAckLinkTTL = 24 * time.Hour

// applyIncidentWork validates w and installs it into c, reading secret
// files relative to dir.
func (c *Config) applyIncidentWork(w *IncidentWork, dir string) error {
	if w.ReopenWindow < 0 || w.AckTimeout < 0 || w.AckLinkTTL < 0 {
		return fmt.Errorf("incidents: durations must not be negative")
	}
	if w.AckLinkTTL == 0 {
		w.AckLinkTTL = model.Duration(defaultAckLinkTTL)
	}
	seen := map[string]bool{}
	for i, e := range w.Escalation {
		if e.Receiver == "" || e.Policy == "" {
			return fmt.Errorf("incidents.escalation[%d]: receiver and policy are required", i)
		}
		if c.Receiver(e.Receiver) == nil {
			return fmt.Errorf("incidents.escalation[%d]: unknown receiver %q", i, e.Receiver)
		}
		if seen[e.Receiver] {
			return fmt.Errorf("incidents.escalation[%d]: receiver %q has a policy already", i, e.Receiver)
		}
		seen[e.Receiver] = true
	}
	for i, l := range w.Links {
		if l.URL == "" {
			return fmt.Errorf("incidents.links[%d]: url is required", i)
		}
	}
	for _, s := range []struct {
		name      string
		val, file *string
	}{
		{"slack_signing_secret", &w.SlackSigningSecret, &w.SlackSigningSecretFile},
		{"pagerduty_webhook_secret", &w.PagerDutyWebhookSecret, &w.PagerDutyWebhookSecretFile},
		{"ack_link_secret", &w.AckLinkSecret, &w.AckLinkSecretFile},
	} {
		if *s.file == "" {
			continue
		}
		if *s.val != "" {
			return fmt.Errorf("incidents: %s and %s_file are mutually exclusive", s.name, s.name)
		}
		f := *s.file
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("incidents.%s_file: %w", s.name, err)
		}
		*s.val = strings.TrimSpace(string(b))
	}
	c.Incidents.Work = w
	return nil
}

// check parses and test-runs the incident templates, with the
// configuration's template files, as notification templates are. If the
// files themselves do not load, that is reported where they are used
// (when the configuration is applied), and the incident templates are
// only parsed here.
func (i *Incidents) check(files []string) error {
	keys := []struct{ key, text string }{
		{"title_template", i.TitleTemplate},
		{"severity_template", i.SeverityTemplate},
		{"service_template", i.ServiceTemplate},
	}
	tmpl, err := template.FromGlobs(files)
	if err != nil {
		for _, k := range keys {
			if _, err := texttemplate.New(k.key).Funcs(texttemplate.FuncMap(template.DefaultFuncs)).Parse(k.text); err != nil {
				return fmt.Errorf("incidents.%s: %w", k.key, err)
			}
		}
		return nil
	}
	tmpl.ExternalURL = &url.URL{}
	for _, k := range keys {
		if _, err := tmpl.ExecuteTextString(k.text, &template.Data{}); err != nil {
			return fmt.Errorf("incidents.%s: %w", k.key, err)
		}
	}
	return nil
}

// W returns the incident work settings, defaults if the file has none.
func (i *Incidents) W() IncidentWork {
	if i.Work == nil {
		return IncidentWork{AckLinkTTL: model.Duration(defaultAckLinkTTL)}
	}
	return *i.Work
}

// PolicyFor returns the escalation policy of receiver, or "".
func (i *Incidents) PolicyFor(receiver string) string {
	for _, e := range i.W().Escalation {
		if e.Receiver == receiver {
			return e.Policy
		}
	}
	return ""
}
