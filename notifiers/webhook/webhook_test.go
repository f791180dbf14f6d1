package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/fakes/webhooktest"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/webhook"
)

const groupKey = `{}:{alertname="Down"}`

// newNotifier loads receivers (YAML list items, %s is the server's URL)
// through Klaxon's config loader and builds the first webhook of name.
func newNotifier(t *testing.T, receivers, name, serverURL string) *webhook.Notifier {
	t.Helper()
	text := "route:\n  receiver: " + name + "\nreceivers:\n" + strings.ReplaceAll(receivers, "%s", serverURL)
	cfg, err := config.Load([]byte(text), t.TempDir())
	if err != nil {
		t.Fatalf("load config: %v\n%s", err, text)
	}
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://klaxon.example:9093")
	n, err := webhook.New(cfg.Receiver(name).WebhookConfigs[0], tmpl, nil)
	if err != nil {
		t.Fatalf("webhook.New: %v", err)
	}
	return n
}

func firing(instance string) *alert.Alert {
	return alert.New(model.Alert{
		Labels:       model.LabelSet{"alertname": "Down", "instance": model.LabelValue(instance), "severity": "page"},
		Annotations:  model.LabelSet{"summary": "down"},
		StartsAt:     time.Now().Add(-time.Hour),
		GeneratorURL: "http://prometheus.example/graph",
	}, time.Now(), false)
}

func resolved(instance string) *alert.Alert {
	a := firing(instance)
	a.EndsAt = time.Now().Add(-time.Minute)
	return a
}

func message(receiver string, alerts ...*alert.Alert) *notifiers.Message {
	return &notifiers.Message{
		Receiver: receiver, GroupKey: groupKey, GroupLabels: model.LabelSet{"alertname": "Down"},
		Alerts: alerts, Reason: "first", At: time.Now(),
	}
}

func TestPayloadIsAlertmanagerVersion4(t *testing.T) {
	srv := webhooktest.NewServer()
	defer srv.Close()
	n := newNotifier(t, `
- name: team
  webhook_configs:
  - url: %s/hook
    max_alerts: 2
    http_config:
      basic_auth: {username: alice, password: s3cret}
`, "team", srv.URL)

	retry, err := n.Notify(context.Background(), message("team", firing("a"), firing("b"), resolved("c")))
	if err != nil || retry {
		t.Fatalf("Notify() = %v, %v; want success", retry, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth(); !ok || user != "alice" || pass != "s3cret" {
		t.Errorf("basic auth = %q, %q, %v; want alice, s3cret", user, pass, ok)
	}
	if got := r.Header.Get("User-Agent"); got != "Klaxon/"+notifiers.Version {
		t.Errorf("User-Agent = %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}

	var got struct {
		Version, GroupKey, Status, Receiver, ExternalURL string
		NotificationReason                               string `json:"notification_reason"`
		TruncatedAlerts                                  int
		GroupLabels, CommonLabels, CommonAnnotations     map[string]string
		Alerts                                           []struct {
			Status, StartsAt, EndsAt, GeneratorURL, Fingerprint string
			Labels                                              map[string]string
		}
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, r.Body)
	}
	want := map[string][2]any{
		"version":             {got.Version, "4"},
		"groupKey":            {got.GroupKey, groupKey},
		"status":              {got.Status, "firing"},
		"receiver":            {got.Receiver, "team"},
		"externalURL":         {got.ExternalURL, "http://klaxon.example:9093"},
		"notification_reason": {got.NotificationReason, "first notification"},
		"truncatedAlerts":     {got.TruncatedAlerts, 1},
		"len(alerts)":         {len(got.Alerts), 2},
		"groupLabels":         {fmt.Sprint(got.GroupLabels), "map[alertname:Down]"},
		"commonLabels":        {fmt.Sprint(got.CommonLabels), "map[alertname:Down severity:page]"},
		"commonAnnotations":   {fmt.Sprint(got.CommonAnnotations), "map[summary:down]"},
	}
	for field, gw := range want {
		if gw[0] != gw[1] {
			t.Errorf("%s = %v, want %v", field, gw[0], gw[1])
		}
	}
	for i, a := range got.Alerts {
		if a.Status != "firing" || a.EndsAt != "0001-01-01T00:00:00Z" || a.Fingerprint == "" ||
			a.GeneratorURL != "http://prometheus.example/graph" {
			t.Errorf("alerts[%d] = %+v; want firing with zero endsAt, a fingerprint and the generator URL", i, a)
		}
	}
	if got.Alerts[0].Labels["instance"] != "a" || got.Alerts[1].Labels["instance"] != "b" {
		t.Errorf("alerts not the first two in order: %+v", got.Alerts)
	}
	// The payload decodes as Alertmanager's own type, too.
	if m, err := r.Message(); err != nil || m.Version != "4" || len(m.Alerts) != 2 {
		t.Errorf("decode as Alertmanager's webhook.Message: %+v, %v", m, err)
	}
}

func TestBearerTokenAndURLFile(t *testing.T) {
	srv := webhooktest.NewServer()
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte(srv.URL+"/from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, `
- name: team
  webhook_configs:
  - url_file: `+file+`
    http_config:
      authorization: {credentials: t0ken}
`, "team", srv.URL)
	if retry, err := n.Notify(context.Background(), message("team", firing("a"))); err != nil {
		t.Fatalf("Notify() = %v, %v", retry, err)
	}
	if got := srv.Requests()[0].Header.Get("Authorization"); got != "Bearer t0ken" {
		t.Errorf("Authorization = %q, want Bearer t0ken", got)
	}
}

// TestURLTemplate: a URL with template actions is rendered from the
// notification's data (one without is used as it is, as in every other
// test here).
func TestURLTemplate(t *testing.T) {
	srv := webhooktest.NewServer()
	defer srv.Close()
	n := newNotifier(t, "- name: team\n  webhook_configs:\n  - url: '%s/hook/{{ .GroupLabels.alertname }}/{{ .Status }}'\n", "team", srv.URL)
	if retry, err := n.Notify(context.Background(), message("team", firing("a"))); err != nil {
		t.Fatalf("Notify() = %v, %v", retry, err)
	}
	if got := srv.Requests()[0].Path; got != "/hook/Down/firing" {
		t.Errorf("templated URL reached %q, want /hook/Down/firing", got)
	}
}

func TestStatusCodes(t *testing.T) {
	srv := webhooktest.NewServer()
	defer srv.Close()
	n := newNotifier(t, "- name: team\n  webhook_configs:\n  - url: %s/hook\n", "team", srv.URL)
	later := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		resp       webhooktest.Response
		wantErr    bool
		wantRetry  bool
		retryAfter time.Duration // -1: about 90s from an HTTP date
	}{
		{"200", webhooktest.Response{Status: 200}, false, false, 0},
		{"204", webhooktest.Response{Status: 204}, false, false, 0},
		{"500", webhooktest.Response{Status: 500, Body: "oops"}, true, true, 0},
		{"503", webhooktest.Response{Status: 503}, true, true, 0},
		{"429 seconds", webhooktest.Response{Status: 429, Header: http.Header{"Retry-After": {"7"}}}, true, true, 7 * time.Second},
		{"503 date", webhooktest.Response{Status: 503, Header: http.Header{"Retry-After": {later}}}, true, true, -1},
		{"400", webhooktest.Response{Status: 400, Body: "bad payload"}, true, false, 0},
		{"401", webhooktest.Response{Status: 401}, true, false, 0},
		{"404", webhooktest.Response{Status: 404}, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Script(tt.resp)
			retry, err := n.Notify(context.Background(), message("team", firing("a")))
			if (err != nil) != tt.wantErr || retry != tt.wantRetry {
				t.Fatalf("Notify() = %v, %v; want retry=%v, error=%v", retry, err, tt.wantRetry, tt.wantErr)
			}
			var ra notifiers.RetryAfterError
			hasRA := errors.As(err, &ra)
			switch {
			case tt.retryAfter > 0 && (!hasRA || ra.RetryAfter() != tt.retryAfter):
				t.Errorf("Retry-After: got %v (present %v), want %v", ra, hasRA, tt.retryAfter)
			case tt.retryAfter < 0 && (!hasRA || ra.RetryAfter() < 80*time.Second || ra.RetryAfter() > 91*time.Second):
				t.Errorf("Retry-After from a date: got %v (present %v), want about 90s", ra, hasRA)
			case tt.retryAfter == 0 && hasRA:
				t.Errorf("unexpected Retry-After %v", ra.RetryAfter())
			}
			if tt.resp.Body != "" && !strings.Contains(err.Error(), tt.resp.Body) {
				t.Errorf("error %q does not quote the response body", err)
			}
		})
	}
}

func TestErrorsCarryNoURLSecrets(t *testing.T) {
	srv := webhooktest.NewServer()
	defer srv.Close()
	secretURL := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1) + "/hook/t0ken"
	n := newNotifier(t, "- name: team\n  webhook_configs:\n  - url: %s\n", "team", secretURL)

	srv.Script(webhooktest.Response{Status: 400})
	_, rejected := n.Notify(context.Background(), message("team", firing("a")))
	srv.Close()
	retry, netErr := n.Notify(context.Background(), message("team", firing("a")))
	if !retry || netErr == nil {
		t.Fatalf("Notify() to a closed server = %v, %v; want a retryable error", retry, netErr)
	}
	t.Logf("errors: %v; %v", rejected, netErr)
	for _, err := range []error{rejected, netErr} {
		if err == nil {
			t.Fatal("want an error")
		}
		for _, secret := range []string{"s3cret", "t0ken", "alice"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	srv := webhooktest.NewServer()
	defer srv.Close()
	hold := make(chan struct{})
	defer close(hold)
	srv.Script(webhooktest.Response{Hold: hold})
	n := newNotifier(t, "- name: team\n  webhook_configs:\n  - url: %s/hook\n    timeout: 50ms\n", "team", srv.URL)
	retry, err := n.Notify(context.Background(), message("team", firing("a")))
	if !retry || err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Notify() = %v, %v; want a retryable timeout error", retry, err)
	}
}

func TestCustomPayload(t *testing.T) {
	srv := webhooktest.NewServer()
	defer srv.Close()
	n := newNotifier(t, `
- name: team
  webhook_configs:
  - url: %s/hook
    payload:
      text: '{{ .CommonLabels.alertname }} is {{ .Status }}'
`, "team", srv.URL)
	if _, err := n.Notify(context.Background(), message("team", firing("a"))); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(srv.Requests()[0].Body, &got); err != nil || got["text"] != "Down is firing" {
		t.Fatalf("custom payload = %s (%v), want text \"Down is firing\"", srv.Requests()[0].Body, err)
	}
}
