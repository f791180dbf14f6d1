package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/fakes"
	"github.com/klaxon-dev/klaxon/internal/mailtest"
)

// Secrets of the notification scenarios' configuration. None may show in
// Klaxon's logs, its API answers or its errors.
const (
	slackToken   = "xoxb-e2e-sl4ck-t0ken"
	pdRoutingKey = "E2eRoutingKey0123456789abcdefABC"
	hookPassword = "h00k-p4ss"
)

// providers are the places a notification scenario delivers to: the Slack
// and PagerDuty fakes, a real SMTP server, and the env's webhook receiver.
type providers struct {
	slack *fakes.Slack
	pd    *fakes.PagerDuty
	mail  *mailtest.Server
	urls  map[string]string
}

func newProviders(t *testing.T) *providers {
	t.Helper()
	p := &providers{slack: fakes.NewSlack(slackToken), pd: fakes.NewPagerDuty(pdRoutingKey), urls: map[string]string{}}
	for name, h := range map[string]http.Handler{"slack": p.slack, "pagerduty": p.pd} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		p.urls[name] = srv.URL
	}
	p.mail = mailtest.Start(t)
	return p
}

// notifyConfig routes every alert, grouped by alertname, to a receiver
// with Slack (bot token), PagerDuty and email, and to the env's webhook
// through a URL with credentials.
func (p *providers) notifyConfig(e *env) string {
	hook := strings.Replace(e.hook.URL(), "http://", "http://klaxon:"+hookPassword+"@", 1) + "/hook"
	return fmt.Sprintf(`route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: oncall
    slack_configs:
      - app_token: %s
        app_url: %s/api/chat.postMessage
        channel: '#ops'
        send_resolved: true
    pagerduty_configs:
      - routing_key: %s
        url: %s/v2/enqueue
    email_configs:
      - to: oncall@example.com
        from: klaxon@example.com
        smarthost: %s
        auth_username: %s
        auth_password: %s
        require_tls: true
        tls_config: {ca_file: %s}
        send_resolved: true
    webhook_configs:
      - url: %s
        send_resolved: true
`, slackToken, p.urls["slack"], pdRoutingKey, p.urls["pagerduty"], p.mail.Smarthost(),
		mailtest.User, mailtest.Password, p.mail.CAFile, hook)
}

// pdActions lists the event_action of each PagerDuty event, and the
// distinct dedup keys they used.
func (p *providers) pdActions() (actions []string, keys map[string]bool) {
	keys = map[string]bool{}
	for _, ev := range p.pd.Events() {
		actions = append(actions, ev.EventAction)
		keys[ev.DedupKey] = true
	}
	return actions, keys
}

// slackText is the content of one version of a Slack message.
func slackText(v fakes.SlackPost) string { return v.Text + string(v.Attachments) }

// checkNoSecrets fails if a secret of the configuration shows in Klaxon's
// log or in what its APIs answer.
func checkNoSecrets(t *testing.T, e *env, k *klaxon) {
	t.Helper()
	places := map[string]string{"log": e.log.String()}
	for _, path := range []string{"/api/v2/status", "/api/v1/incidents", "/metrics"} {
		if status, body := k.get(t, path); status == http.StatusOK {
			places[path] = body
		}
	}
	for _, inc := range k.incidents(t) {
		places[fmt.Sprintf("incident %d", inc.ID)] = asJSON(k.incident(t, inc.ID))
	}
	for where, text := range places {
		for _, secret := range []string{slackToken, pdRoutingKey, mailtest.Password, hookPassword} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q shows in %s", secret, where)
			}
		}
	}
}
