package pagerduty_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/fakes"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/pagerduty"
)

const routingKey = "R0123456789abcdef0123456789abcde"

func newNotifier(t *testing.T, fake *fakes.PagerDuty, extra string) *pagerduty.Notifier {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	text := "route: {receiver: ops}\nreceivers:\n- name: ops\n  pagerduty_configs:\n  - routing_key: " + routingKey +
		"\n    url: " + srv.URL + "/v2/enqueue\n    severity: '{{ .CommonLabels.severity }}'\n" + extra
	cfg, err := config.Load([]byte(text), t.TempDir())
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("https://klaxon.example.com")
	n, err := pagerduty.New(cfg.Receiver("ops").PagerdutyConfigs[0], tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func message(reason string, resolved bool, summary string) *notifiers.Message {
	now := time.Now()
	a := model.Alert{
		Labels:      model.LabelSet{"alertname": "DiskFull", "instance": "db-1", "severity": "page"},
		Annotations: model.LabelSet{"summary": model.LabelValue(summary)},
		StartsAt:    now.Add(-time.Minute),
	}
	if resolved {
		a.EndsAt = now.Add(-time.Second)
	}
	m := &notifiers.Message{
		IncidentID: 3, Receiver: "ops", GroupKey: `{}:{alertname="DiskFull"}`,
		GroupLabels: model.LabelSet{"alertname": "DiskFull"}, Reason: reason, At: now,
		Alerts: []*alert.Alert{alert.New(a, now, false)},
	}
	if reason == notifiers.ReasonAcknowledged {
		m.Ack = &notifiers.Ack{By: "alice", Via: "api", At: now}
	}
	return m
}

// Trigger, acknowledge and resolve reach one PagerDuty alert, in events
// the Events API v2 accepts.
func TestTriggerAcknowledgeResolveShareDedupKey(t *testing.T) {
	fake := fakes.NewPagerDuty(routingKey)
	n := newNotifier(t, fake, "")
	for _, m := range []*notifiers.Message{
		message("first", false, "Disk full"),
		message(notifiers.ReasonAcknowledged, false, "Disk full"),
		message("resolved", true, "Disk full"),
	} {
		if retry, err := n.Notify(context.Background(), m); err != nil {
			t.Fatalf("Notify(%s) = %v, retry %v", m.Reason, err, retry)
		}
	}
	evs := fake.Events()
	want := []string{"trigger", "acknowledge", "resolve"}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d", len(evs), len(want))
	}
	key := pagerduty.DedupKey(`{}:{alertname="DiskFull"}`)
	for i, ev := range evs {
		if ev.EventAction != want[i] || ev.DedupKey != key || ev.RoutingKey != routingKey {
			t.Errorf("event %d: action %q dedup %q; want %q with %q", i, ev.EventAction, ev.DedupKey, want[i], key)
		}
	}
	trig := evs[0]
	if p := trig.Payload; p.Severity != "critical" || p.Source == "" || !strings.Contains(p.Summary, "DiskFull") ||
		fmt.Sprint(p.CustomDetails["num_firing"]) != "1" {
		t.Errorf("trigger payload = %+v", p)
	}
	if len(trig.Links) == 0 || trig.Links[0]["href"] != "https://klaxon.example.com/api/v1/incidents/3" {
		t.Errorf("links = %v, want the incident first", trig.Links)
	}
	if got := fake.State(key); got != "resolved" {
		t.Errorf("PagerDuty alert is %q, want resolved", got)
	}
}

func TestLongSummaryIsTruncated(t *testing.T) {
	fake := fakes.NewPagerDuty(routingKey)
	n := newNotifier(t, fake, "    description: '{{ .CommonAnnotations.summary }}'\n")
	if _, err := n.Notify(context.Background(), message("first", false, strings.Repeat("ü", 3000))); err != nil {
		t.Fatalf("Notify = %v", err)
	}
	if got := []rune(fake.Events()[0].Payload.Summary); len(got) != 1024 {
		t.Errorf("summary has %d runes, want 1024", len(got))
	}
}

func TestRejectedEventIsNotRetried(t *testing.T) {
	// The fake knows another key: PagerDuty refuses this one.
	fake := fakes.NewPagerDuty("S0123456789abcdef0123456789abcde")
	n := newNotifier(t, fake, "")
	retry, err := n.Notify(context.Background(), message("first", false, "x"))
	if err == nil || retry {
		t.Fatalf("Notify = %v, retry %v; want a permanent error", err, retry)
	}
	if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "Invalid routing key") {
		t.Errorf("error %q does not say why", err)
	}
	if strings.Contains(err.Error(), routingKey) {
		t.Errorf("error shows the routing key: %v", err)
	}
}

func TestRateLimitAndOutagesAreRetried(t *testing.T) {
	fake := fakes.NewPagerDuty(routingKey)
	n := newNotifier(t, fake, "")
	fake.Fail(fakes.Fault{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}, fakes.Fault{Status: http.StatusBadGateway})
	retry, err := n.Notify(context.Background(), message("first", false, "x"))
	var ra notifiers.RetryAfterError
	if !retry || !errors.As(err, &ra) || ra.RetryAfter() != 7*time.Second {
		t.Fatalf("after 429: retry %v, err %v; want a retry after 7s", retry, err)
	}
	if retry, err := n.Notify(context.Background(), message("first", false, "x")); !retry || err == nil {
		t.Fatalf("after 502: retry %v, err %v; want a retry", retry, err)
	}
	if _, err := n.Notify(context.Background(), message("first", false, "x")); err != nil || len(fake.Events()) != 1 {
		t.Fatalf("third attempt: %v, %d events; want accepted once", err, len(fake.Events()))
	}
}

func TestUnreachableIsRetried(t *testing.T) {
	srv := httptest.NewServer(fakes.NewPagerDuty(routingKey))
	srv.Close()
	cfg, err := config.Load([]byte("route: {receiver: ops}\nreceivers:\n- name: ops\n  pagerduty_configs:\n  - routing_key: "+
		routingKey+"\n    url: "+srv.URL+"/v2/enqueue\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _ := template.FromGlobs(nil)
	tmpl.ExternalURL = &url.URL{}
	n, err := pagerduty.New(cfg.Receiver("ops").PagerdutyConfigs[0], tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := n.Notify(context.Background(), message("first", false, "x")); !retry || err == nil {
		t.Fatalf("retry %v, err %v; want a retryable error", retry, err)
	}
}

// A notification of an acknowledged incident keeps the PagerDuty alert
// acknowledged, even if it replaced the acknowledgement's own.
func TestAcknowledgedIncidentStaysAcknowledged(t *testing.T) {
	m := message("new", false, "x")
	m.Ack = &notifiers.Ack{By: "alice", Via: "slack", At: m.At}
	if got := pagerduty.Action(m); got != "acknowledge" {
		t.Errorf("Action = %q, want acknowledge", got)
	}
	if got := pagerduty.Action(message("resolved", true, "x")); got != "resolve" {
		t.Errorf("Action(resolved) = %q", got)
	}
	m.Closed = &notifiers.Ack{By: "bob", Via: "cli", At: m.At}
	if got := pagerduty.Action(m); got != "resolve" {
		t.Errorf("Action(resolved by hand) = %q, want resolve", got)
	}
}
