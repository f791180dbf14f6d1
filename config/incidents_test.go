package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const incidentsBase = `route:
  receiver: team
receivers:
  - name: team
incidents:
`

func TestIncidentWorkLoads(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slack.secret"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]byte(incidentsBase+`  reopen_window: 15m
  ack_timeout: 1h
  slack_signing_secret_file: slack.secret
  escalation: [{receiver: team, policy: primary}]
  links: [{kind: dashboard, url: "https://grafana/d/x"}]
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Incidents.W()
	if time.Duration(w.ReopenWindow) != 15*time.Minute || time.Duration(w.AckTimeout) != time.Hour ||
		w.SlackSigningSecret != "from-file" || time.Duration(w.AckLinkTTL) != 24*time.Hour {
		t.Errorf("loaded %+v", w)
	}
	if p := cfg.Incidents.PolicyFor("team"); p != "primary" {
		t.Errorf("PolicyFor(team) = %q", p)
	}
	if !strings.Contains(cfg.Incidents.TitleTemplate, "alertname") {
		t.Errorf("the default title template was lost: %q", cfg.Incidents.TitleTemplate)
	}
}

func TestIncidentWorkErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"  escalation: [{receiver: nobody, policy: p}]\n", `incidents.escalation[0]: unknown receiver "nobody"`},
		{"  escalation: [{receiver: team}]\n", "incidents.escalation[0]: receiver and policy are required"},
		{"  escalation: [{receiver: team, policy: a}, {receiver: team, policy: b}]\n", `receiver "team" has a policy already`},
		{"  ack_link_secret: a\n  ack_link_secret_file: b\n", "mutually exclusive"},
		{"  links: [{kind: logs}]\n", "incidents.links[0]: url is required"},
		{"  reopen_window: -1m\n", "not a valid duration"},
		{"  ack_timeout: soon\n", "not a valid duration"},
		{"  no_such_key: 1\n", "no_such_key"},
	} {
		if _, err := Load([]byte(incidentsBase+c.text), "."); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.text, err, c.want)
		}
	}
}

func TestIncidentTemplates(t *testing.T) {
	cfg, err := Load([]byte(incidentsBase+"  severity_template: '{{ .CommonLabels.priority }}'\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Incidents.SeverityTemplate != "{{ .CommonLabels.priority }}" || cfg.Incidents.ServiceTemplate != DefaultIncidents.ServiceTemplate {
		t.Errorf("templates %+v", cfg.Incidents)
	}
	for _, key := range []string{"title_template", "severity_template", "service_template"} {
		p := write(t, incidentsBase+"  "+key+": '{{ .CommonLabels.x '\n")
		_, err := LoadFile(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "incidents."+key+":") {
			t.Errorf("%s: err = %v, want the file and the key", key, err)
		}
	}
	// Template files that do not load are reported when applied; the
	// incident templates are still parsed.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.tmpl"), []byte(`{{ define "x" }}{{ .Oops`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]byte("templates: [bad.tmpl]\n"+incidentsBase+"  service_template: '{{ .CommonLabels.team }}'\n"), dir); err != nil {
		t.Errorf("broken template file: %v, want it left to apply", err)
	}
	_, err = Load([]byte("templates: [bad.tmpl]\n"+incidentsBase+"  service_template: '{{ nosuchfunc }}'\n"), dir)
	if err == nil || !strings.Contains(err.Error(), "incidents.service_template:") {
		t.Errorf("bad service_template beside a broken file: %v", err)
	}
}
