package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"

	"github.com/klaxon-dev/klaxon/notifiers"
)

type fakeDeliveries struct {
	stats []notifiers.DeliveryStats
	err   error
	since time.Time
}

func (f *fakeDeliveries) Stats(_ context.Context, since time.Time) ([]notifiers.DeliveryStats, error) {
	f.since = since
	return f.stats, f.err
}

const statusConfig = `
route:
  receiver: team
receivers:
  - name: team
    slack_configs:
      - api_url: https://hooks.slack.example/services/T000/B000/very-secret-token
        channel: '#ops'
  - name: quiet
`

func TestUIStatusPage(t *testing.T) {
	cfg, err := amconfig.Load(statusConfig)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDeliveries{stats: []notifiers.DeliveryStats{
		{Receiver: "team", Integration: "slack[0]", Sent: 12, Failed: 2, Pending: 1, LastSentAt: uiNow.Add(-time.Minute),
			LastError: "slack: channel_not_found <b>", LastErrorAt: uiNow.Add(-2 * time.Minute)},
		{Receiver: "gone", Integration: "webhook[0]", Sent: 3},
	}}
	s := New(Options{
		Alertmanager: &fakeAlertmanager{}, AlertmanagerConfig: func() *amconfig.Config { return cfg },
		Deliveries: d, Now: func() time.Time { return uiNow }, StartTime: uiNow.Add(-3 * time.Hour),
		PeerName: "klaxon-0", PeerAddress: "10.0.0.1:9093",
	})
	status, body := uiGet(t, s, "/status")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if strings.Contains(body, "very-secret-token") {
		t.Fatal("the status page shows a secret")
	}
	for _, want := range []string{
		`id="status-version"`, "Go version", `class="uptime">3h00m`,
		"klaxon-0", "10.0.0.1:9093",
		`data-receiver="team"`, "slack[0]", `<td class="stat-sent">12</td>`, `<td class="stat-failed">2</td>`,
		"slack: channel_not_found &lt;b&gt;",
		`data-receiver="quiet"`, "no notifications in this window",
		`data-receiver="gone"`,
		"api_url: &lt;secret&gt;", "channel: &#39;#ops&#39;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if want := uiNow.Add(-deliveryWindow); !d.since.Equal(want) {
		t.Errorf("deliveries read since %v, want %v", d.since, want)
	}

	d.err = errors.New("database is away")
	_, body = uiGet(t, s, "/status")
	if !strings.Contains(body, "Reading deliveries failed: database is away") {
		t.Error("a failed read of deliveries is not said")
	}
}
