package email_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/mailtest"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/email"
)

// newNotifier loads an email_config the way users write it.
func newNotifier(t *testing.T, conf string) *email.Notifier {
	t.Helper()
	cfg, err := config.Load([]byte("route: {receiver: ops}\nreceivers:\n- name: ops\n  email_configs:\n  - "+
		strings.ReplaceAll(strings.TrimSpace(conf), "\n", "\n    ")+"\n"), t.TempDir())
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("https://klaxon.example.com")
	n, err := email.New(cfg.Receiver("ops").EmailConfigs[0], tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func message(resolved bool) *notifiers.Message {
	now := time.Now()
	a := model.Alert{
		Labels:       model.LabelSet{"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
		Annotations:  model.LabelSet{"summary": "Disk on db-1 is 95% full", "runbook_url": "https://runbooks.example/disk"},
		StartsAt:     now.Add(-time.Minute),
		GeneratorURL: "https://prometheus.example/graph?g0.expr=disk",
	}
	if resolved {
		a.EndsAt = now.Add(-time.Second)
	}
	return &notifiers.Message{
		IncidentID: 7, Receiver: "ops", GroupKey: `{}:{alertname="DiskFull"}`,
		GroupLabels: model.LabelSet{"alertname": "DiskFull"}, Reason: "first", At: now,
		Alerts: []*alert.Alert{alert.New(a, now, false)},
	}
}

func smtpConfig(s *mailtest.Server, auth string) string {
	return fmt.Sprintf(`to: 'ops@example.com, lead@example.com'
from: 'Klaxon <klaxon@example.com>'
smarthost: %s
hello: klaxon.test
auth_username: %s
%s
require_tls: true
tls_config: {ca_file: %s}
headers: {X-Team: storage}`, s.Smarthost(), mailtest.User, auth, s.CAFile)
}

// A mail goes through STARTTLS and AUTH to a real SMTP server, with both
// parts, the headers and the links.
func TestSendsMultipartMailOverSTARTTLS(t *testing.T) {
	s := mailtest.Start(t)
	for _, auth := range []string{"auth_password: " + mailtest.Password, "auth_password: " + mailtest.Password + "\nauth_secret: unused-by-mailpit"} {
		n := newNotifier(t, smtpConfig(s, auth))
		if retry, err := n.Notify(context.Background(), message(false)); err != nil {
			t.Fatalf("%s: Notify = %v (retry %v)", auth, err, retry)
		}
	}
	msgs := s.WaitMessages(t, 2)
	for _, m := range msgs {
		if m.Subject != "[FIRING:1] DiskFull (db-1 critical)" {
			t.Errorf("subject = %q", m.Subject)
		}
		if m.From.Address != "klaxon@example.com" || len(m.To) != 2 || m.To[1].Address != "lead@example.com" {
			t.Errorf("from %+v, to %+v", m.From, m.To)
		}
		if got := m.Headers["X-Team"]; len(got) != 1 || got[0] != "storage" {
			t.Errorf("X-Team header = %v", got)
		}
		if got := m.Headers["X-Klaxon-Incident"]; len(got) != 1 || got[0] != "7" {
			t.Errorf("X-Klaxon-Incident header = %v", got)
		}
		for _, want := range []string{"FIRING: 1 alert(s)", "instance = db-1", "Disk on db-1 is 95% full",
			"Runbook: https://runbooks.example/disk", "Incident: https://klaxon.example.com/api/v1/incidents/7", "Silence: https://klaxon.example.com/#/silences/new"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("text part lacks %q:\n%s", want, m.Text)
			}
		}
		// Alertmanager's default HTML template, with its links.
		for _, want := range []string{"<html", "DiskFull", "https://prometheus.example/graph?g0.expr=disk", "https://klaxon.example.com"} {
			if !strings.Contains(m.HTML, want) {
				t.Errorf("HTML part lacks %q", want)
			}
		}
	}
}

func TestWrongPasswordIsNotRetried(t *testing.T) {
	s := mailtest.Start(t)
	n := newNotifier(t, smtpConfig(s, "auth_password: wrong-password"))
	retry, err := n.Notify(context.Background(), message(false))
	if err == nil || retry {
		t.Fatalf("Notify = %v, retry %v; want a permanent error", err, retry)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestServerDownIsRetried(t *testing.T) {
	n := newNotifier(t, "to: ops@example.com\nfrom: klaxon@example.com\nsmarthost: 127.0.0.1:1\nrequire_tls: false")
	if retry, err := n.Notify(context.Background(), message(false)); err == nil || !retry {
		t.Fatalf("Notify = %v, retry %v; want a retryable error", err, retry)
	}
}

func TestUntrustedCertificateFails(t *testing.T) {
	s := mailtest.Start(t)
	conf := strings.Replace(smtpConfig(s, "auth_password: "+mailtest.Password), "tls_config: {ca_file: "+s.CAFile+"}", "", 1)
	n := newNotifier(t, conf)
	if _, err := n.Notify(context.Background(), message(false)); err == nil {
		t.Fatal("Notify succeeded with a certificate nobody trusts")
	}
	if msgs := s.Messages(t); len(msgs) != 0 {
		t.Fatalf("got %d mails", len(msgs))
	}
}

func TestSendsOverImplicitTLS(t *testing.T) {
	s := mailtest.StartTLS(t, mailtest.ImplicitTLS)
	conf := strings.Replace(smtpConfig(s, "auth_password: "+mailtest.Password), "require_tls: true", "force_implicit_tls: true", 1)
	n := newNotifier(t, conf)
	if retry, err := n.Notify(context.Background(), message(true)); err != nil {
		t.Fatalf("Notify = %v (retry %v)", err, retry)
	}
	if m := s.WaitMessages(t, 1)[0]; m.Subject != "[RESOLVED] DiskFull (db-1 critical)" || !strings.Contains(m.Text, "RESOLVED: 1 alert(s)") {
		t.Errorf("subject %q, text %q", m.Subject, m.Text)
	}
}
