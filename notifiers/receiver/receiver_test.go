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
  slack_configs:
  - api_url: http://slack.example/hook
    channel: '#ops'
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
	if len(got) != 2 {
		t.Fatalf("got %d integrations, want the 2 webhooks", len(got))
	}
	for i, in := range got {
		if in.Name != "webhook" || in.Index != i || in.SendResolved != (i == 0) || in.Notifier == nil {
			t.Errorf("integration %d = %+v", i, in)
		}
	}
	if !strings.Contains(logs.String(), "kind=slack_configs") {
		t.Errorf("skipped slack_configs not logged:\n%s", logs.String())
	}
}
