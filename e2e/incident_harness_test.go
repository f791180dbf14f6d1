package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/internal/mailtest"
)

// Secrets of the incident scenarios' hooks.
const (
	slackSigningSecret = "e2e-slack-signing-secret"
	pdWebhookSecret    = "e2e-pagerduty-webhook-secret"
	bobSlackID         = "U0B0B0B0B"
)

// incidentConfig is notifyConfig's receiver (Slack, PagerDuty) paging
// through policy "primary": step 1 emails whoever is on call for schedule
// "day" (alice), step 2 after 5 minutes sends bob a Slack message.
func (p *providers) incidentConfig() string {
	return fmt.Sprintf(`global:
  resolve_timeout: 24h
  smtp_smarthost: %s
  smtp_from: klaxon@example.com
  smtp_auth_username: %s
  smtp_auth_password: %s
  smtp_require_tls: true
  smtp_tls_config: {ca_file: %s}
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 24h
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
incidents:
  reopen_window: 1h
  ack_timeout: 30m
  slack_signing_secret: %s
  pagerduty_webhook_secret: %s
  ack_link_secret: e2e-ack-link-secret
  escalation:
    - {receiver: oncall, policy: primary}
users:
  - name: alice
    contact_methods: [{type: email, to: alice@example.com}]
  - name: bob
    contact_methods: [{type: slack, to: %s}]
schedules:
  - name: day
    rotations:
      - {participants: [alice], shift: weekly, start: 2026-01-05}
escalation_policies:
  - name: primary
    steps:
      - {delay: 5m, targets: [{schedule: day}]}
      - {delay: 5m, targets: [{user: bob}]}
`, p.mail.Smarthost(), mailtest.User, mailtest.Password, p.mail.CAFile, slackToken, p.urls["slack"],
		pdRoutingKey, p.urls["pagerduty"], slackSigningSecret, pdWebhookSecret, bobSlackID)
}

// clock is the klaxon's clock, moved forward through the hidden
// --debug.clock-offset-file flag: every timer of the binary (escalation
// delays, ack timeouts, group timers) reads the same offset.
type clock struct {
	t    *testing.T
	file string
}

func newClock(t *testing.T, e *env) *clock {
	c := &clock{t: t, file: filepath.Join(e.dir, "clock-offset")}
	c.set(0)
	return c
}

func (c *clock) flag() []string { return []string{"--debug.clock-offset-file", c.file} }

// set moves the klaxon's clock to d ahead of the real one.
func (c *clock) set(d time.Duration) {
	c.t.Helper()
	tmp := c.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, c.file); err != nil {
		c.t.Fatal(err)
	}
}

// pressSlackButton posts a Slack block_actions interaction, signed with
// the signing secret as Slack signs it, and returns the status.
func (k *klaxon) pressSlackButton(t *testing.T, action string, id int64, member, secret string, at time.Time) int {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": member, "name": "bob.s"},
		"actions": []map[string]any{{"action_id": action, "block_id": "klaxon_actions", "value": strconv.FormatInt(id, 10), "type": "button"}},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	return k.hook(t, "/hooks/slack/interactions", body, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
		"X-Slack-Signature": "v0=" + hex.EncodeToString(m.Sum(nil))})
}

// pagerDutyWebhook posts a v3 webhook event about the PagerDuty incident
// of dedupKey, signed with secret, and returns the status.
func (k *klaxon) pagerDutyWebhook(t *testing.T, eventType, dedupKey, secret string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"event": map[string]any{
		"id": "01E2E", "event_type": eventType, "resource_type": "incident", "occurred_at": time.Now().UTC(),
		"agent": map[string]any{"type": "user_reference", "summary": "Carol"},
		"data":  map[string]any{"id": "PE2E", "type": "incident", "incident_key": dedupKey},
	}})
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return k.hook(t, "/hooks/pagerduty", string(body), map[string]string{
		"Content-Type": "application/json", "X-PagerDuty-Signature": "v1=" + hex.EncodeToString(m.Sum(nil))})
}

func (k *klaxon) hook(t *testing.T, path, body string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, k.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range header {
		req.Header.Set(name, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var ackLinkRE = regexp.MustCompile(`Acknowledge: \S+/ack/(\S+)`)

// ackToken is the token of the ack link in a mail's text.
func ackToken(t *testing.T, m mailtest.Message) string {
	t.Helper()
	match := ackLinkRE.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("mail %q has no ack link:\n%s", m.Subject, m.Text)
	}
	return match[1]
}

// kinds lists the kinds of inc's timeline events.
func kinds(inc *incidents.Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

// inOrder reports whether want appears in got in this order.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// mailsTo returns the mails delivered to addr.
func (p *providers) mailsTo(t *testing.T, addr string) []mailtest.Message {
	t.Helper()
	var out []mailtest.Message
	for _, m := range p.mail.Messages(t) {
		if slices.ContainsFunc(m.To, func(a mailtest.Address) bool { return a.Address == addr }) {
			out = append(out, m)
		}
	}
	return out
}
