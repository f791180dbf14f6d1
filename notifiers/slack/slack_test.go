package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/fakes"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/slack"
)

const token = "xoxb-test-t0ken"

// thread is an in-memory notifiers.Thread.
type thread struct {
	mu  sync.Mutex
	ref string
}

func (th *thread) Load(context.Context) (string, error) {
	th.mu.Lock()
	defer th.mu.Unlock()
	return th.ref, nil
}
func (th *thread) Save(_ context.Context, ref string) error {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.ref = ref
	return nil
}

// newNotifier loads a slack_config as users write it, pointed at fake.
func newNotifier(t *testing.T, fake *fakes.Slack, conf string) *slack.Notifier {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	conf = strings.ReplaceAll(conf, "FAKE", srv.URL)
	cfg, err := config.Load([]byte("route: {receiver: ops}\nreceivers:\n- name: ops\n  slack_configs:\n  - "+
		strings.ReplaceAll(strings.TrimSpace(conf), "\n", "\n    ")+"\n"), t.TempDir())
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("https://klaxon.example.com")
	n, err := slack.New(cfg.Receiver("ops").SlackConfigs[0], tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const botConfig = "app_token: " + token + "\napp_url: FAKE/api/chat.postMessage\nchannel: '#ops'\nsend_resolved: true"

type state struct {
	reason     string
	alerts     []string // instances; a "-" prefix means resolved
	ackedBy    string
	resolvedBy string
	incident   int64
}

func message(th notifiers.Thread, s state) *notifiers.Message {
	now := time.Now()
	m := &notifiers.Message{
		IncidentID: s.incident, Receiver: "ops", GroupKey: `{}:{alertname="DiskFull"}`,
		GroupLabels: model.LabelSet{"alertname": "DiskFull"}, Reason: s.reason, At: now, Thread: th,
	}
	for _, inst := range s.alerts {
		a := model.Alert{
			Labels: model.LabelSet{"alertname": "DiskFull", "instance": model.LabelValue(strings.TrimPrefix(inst, "-")), "severity": "critical"},
			Annotations: model.LabelSet{"summary": model.LabelValue("Disk on " + strings.TrimPrefix(inst, "-") + " is full"),
				"runbook_url": "https://runbooks.example/disk"},
			StartsAt: now.Add(-time.Minute),
		}
		if strings.HasPrefix(inst, "-") {
			a.EndsAt = now.Add(-time.Second)
		}
		m.Alerts = append(m.Alerts, alert.New(a, now, false))
	}
	if s.ackedBy != "" {
		m.Ack = &notifiers.Ack{By: s.ackedBy, Via: "slack", At: now}
	}
	if s.resolvedBy != "" {
		m.Closed = &notifiers.Ack{By: s.resolvedBy, Via: "cli", At: now}
	}
	return m
}

// content flattens a message version's attachments for assertions.
func content(t *testing.T, p fakes.SlackPost) (color, text string) {
	t.Helper()
	var atts []struct {
		Color  string            `json:"color"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(p.Attachments, &atts); err != nil || len(atts) != 1 {
		t.Fatalf("attachments %s: %v", p.Attachments, err)
	}
	var b strings.Builder
	for _, bl := range atts[0].Blocks {
		b.Write(bl)
	}
	return atts[0].Color, b.String()
}

// One incident is one Slack message: every later state edits it.
func TestIncidentStatesEditOneMessage(t *testing.T) {
	fake := fakes.NewSlack(token)
	n := newNotifier(t, fake, botConfig)
	th := &thread{}
	states := []state{
		{reason: "first", alerts: []string{"db-1"}, incident: 9},
		{reason: "new", alerts: []string{"db-1", "db-2"}, incident: 9},
		{reason: notifiers.ReasonAcknowledged, alerts: []string{"db-1", "db-2"}, ackedBy: "alice", incident: 9},
		{reason: "resolved", alerts: []string{"-db-1", "-db-2"}, ackedBy: "alice", incident: 9},
	}
	for _, s := range states {
		if retry, err := n.Notify(context.Background(), message(th, s)); err != nil {
			t.Fatalf("Notify(%s) = %v, retry %v", s.reason, err, retry)
		}
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || len(msgs[0].Versions) != len(states) {
		t.Fatalf("got %d messages (%+v), want one with %d versions", len(msgs), msgs, len(states))
	}
	checks := []struct {
		color     string
		has, lack []string
	}{
		{"#d63232", []string{"Firing", "db-1", "Disk on db-1 is full", "https://runbooks.example/disk",
			"https://klaxon.example.com/api/v1/incidents/9", "Incident #9", "silences/new", "klaxon_ack", "klaxon_resolve", "klaxon_silence_1h"}, []string{"db-2"}},
		{"#d63232", []string{"2 alert(s)", "db-2"}, nil},
		{"#8a8a8a", []string{"Acknowledged* by alice via slack", "klaxon_resolve"}, []string{"klaxon_ack"}},
		{"#2eb67d", []string{"Resolved"}, []string{"klaxon_resolve", "klaxon_ack"}},
	}
	for i, c := range checks {
		color, text := content(t, msgs[0].Versions[i])
		if color != c.color {
			t.Errorf("version %d: color %s, want %s", i, color, c.color)
		}
		for _, s := range c.has {
			if !strings.Contains(text, s) {
				t.Errorf("version %d lacks %q:\n%s", i, s, text)
			}
		}
		for _, s := range c.lack {
			if strings.Contains(text, s) {
				t.Errorf("version %d has %q:\n%s", i, s, text)
			}
		}
		if msgs[0].Versions[i].Text == "" {
			t.Errorf("version %d has no notification text", i)
		}
	}
}

func TestRateLimitIsRetriedAfterRetryAfter(t *testing.T) {
	fake := fakes.NewSlack(token)
	n := newNotifier(t, fake, botConfig)
	fake.Fail(fakes.Fault{Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second})
	retry, err := n.Notify(context.Background(), message(&thread{}, state{reason: "first", alerts: []string{"db-1"}}))
	var ra notifiers.RetryAfterError
	if !retry || !errors.As(err, &ra) || ra.RetryAfter() != 3*time.Second {
		t.Fatalf("retry %v, err %v; want a retry after 3s", retry, err)
	}
	if len(fake.Messages()) != 0 {
		t.Fatal("a rate-limited call posted")
	}
}

func TestBadTokenIsNotRetried(t *testing.T) {
	fake := fakes.NewSlack("xoxb-another")
	n := newNotifier(t, fake, botConfig)
	retry, err := n.Notify(context.Background(), message(&thread{}, state{reason: "first", alerts: []string{"db-1"}}))
	if retry || err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("retry %v, err %v; want a permanent invalid_auth", retry, err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestDeletedMessageIsPostedAgain(t *testing.T) {
	fake := fakes.NewSlack(token)
	n := newNotifier(t, fake, botConfig)
	th := &thread{ref: `{"channel":"C404","ts":"1.000001"}`}
	if _, err := n.Notify(context.Background(), message(th, state{reason: "new", alerts: []string{"db-1"}})); err != nil {
		t.Fatal(err)
	}
	if msgs := fake.Messages(); len(msgs) != 1 || !strings.Contains(th.ref, msgs[0].TS) {
		t.Fatalf("messages %+v, thread %q; want a new message remembered", msgs, th.ref)
	}
}

// Alertmanager's Slack fields keep working with a bot token.
func TestAlertmanagerFieldsAreRendered(t *testing.T) {
	fake := fakes.NewSlack(token)
	n := newNotifier(t, fake, botConfig+`
title: 'Storage: {{ .CommonLabels.alertname }}'
text: '{{ range .Alerts }}{{ .Labels.instance }} {{ end }}custom'
color: '#123456'
username: klaxon-bot
fields: [{title: Team, value: storage}]
actions: [{type: button, text: Grafana, url: 'https://grafana.example/d/disk'}]`)
	if _, err := n.Notify(context.Background(), message(&thread{}, state{reason: "first", alerts: []string{"db-1"}})); err != nil {
		t.Fatal(err)
	}
	v := fake.Messages()[0].Versions[0]
	color, text := content(t, v)
	for _, s := range []string{"Storage: DiskFull", "db-1 custom", "*Team*\\nstorage", "https://grafana.example/d/disk", "Grafana"} {
		if !strings.Contains(text, s) {
			t.Errorf("message lacks %q:\n%s", s, text)
		}
	}
	if color != "#123456" || v.Username != "klaxon-bot" {
		t.Errorf("color %q username %q", color, v.Username)
	}
}

// With only an incoming webhook, Slack gets Alertmanager's message.
func TestIncomingWebhookPostsAsAlertmanager(t *testing.T) {
	fake := fakes.NewSlack(token)
	n := newNotifier(t, fake, "api_url: FAKE/services/T000/B000/s3cret\nchannel: '#ops'")
	if n.EditsMessages() {
		t.Error("a webhook cannot edit messages")
	}
	if _, err := n.Notify(context.Background(), message(nil, state{reason: "first", alerts: []string{"db-1"}})); err != nil {
		t.Fatal(err)
	}
	posts := fake.WebhookPosts()
	if len(posts) != 1 || posts[0].Body["channel"] != "#ops" {
		t.Fatalf("posts = %+v", posts)
	}
	atts, _ := posts[0].Body["attachments"].([]any)
	if len(atts) != 1 || !strings.Contains(atts[0].(map[string]any)["title"].(string), "[FIRING:1] DiskFull") {
		t.Errorf("attachments = %v", atts)
	}
	fake.Fail(fakes.Fault{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second})
	retry, err := n.Notify(context.Background(), message(nil, state{reason: "first", alerts: []string{"db-1"}}))
	if !retry || err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("after 429: retry %v, err %v; want a retry, without the URL", retry, err)
	}
}

// Resolving by hand shows who did it and takes the buttons away, while the
// alerts may still fire.
func TestResolvedByHand(t *testing.T) {
	fake := fakes.NewSlack(token)
	n := newNotifier(t, fake, botConfig)
	m := message(&thread{}, state{reason: notifiers.ReasonResolvedByHand, alerts: []string{"db-1"}, resolvedBy: "bob", incident: 4})
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	color, text := content(t, fake.Messages()[0].Versions[0])
	if color != "#2eb67d" || !strings.Contains(text, "Resolved* by bob via cli · 1 alert(s) still firing") || strings.Contains(text, "klaxon_resolve") {
		t.Errorf("color %s, message %s", color, text)
	}
}
