package receiver_test

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/notifiers/receiver"
)

func TestBuild(t *testing.T) {
	cfg, err := config.Load([]byte(`
route: {receiver: team}
receivers:
- name: team
  webhook_configs:
  - url: http://a.example/hook
  - url: http://b.example/hook
    send_resolved: false
  email_configs:
  - to: ops@example.com
    from: klaxon@example.com
    smarthost: smtp.example:587
  pagerduty_configs:
  - routing_key: 0123456789abcdef0123456789abcdef
  slack_configs:
  - api_url: http://slack.example/hook
    channel: '#ops'
  - app_token: xoxb-1
    channel: '#ops'
  opsgenie_configs:
  - api_key: k
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL = &url.URL{}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	got, err := receiver.Build(cfg.Receiver("team"), tmpl, logger)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name               string
		index              int
		sendResolved, acks bool
	}
	wants := []want{{"webhook", 0, true, false}, {"webhook", 1, false, false}, {"email", 0, false, false},
		{"pagerduty", 0, true, true}, {"slack", 0, false, false}, {"slack", 1, false, true}}
	if len(got) != len(wants) {
		t.Fatalf("got %d integrations, want %d", len(got), len(wants))
	}
	for i, in := range got {
		if w := wants[i]; in.Name != w.name || in.Index != w.index || in.SendResolved != w.sendResolved ||
			in.Acks != w.acks || in.Notifier == nil {
			t.Errorf("integration %d = %+v, want %+v", i, in, w)
		}
	}
	if !strings.Contains(logs.String(), "kind=opsgenie_configs") {
		t.Errorf("skipped opsgenie_configs not logged:\n%s", logs.String())
	}
}
