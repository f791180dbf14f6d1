package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/fakes"
	"github.com/klaxon-dev/klaxon/internal/fakes/webhooktest"
)

// outboxDrained waits until Klaxon reports no notification left to send.
func outboxDrained(t *testing.T, k *klaxon) {
	t.Helper()
	waitFor(t, "the outbox to drain", func() bool {
		v, ok := k.metric(t, "klaxon_outbox_pending")
		return ok && v == 0
	})
}

// PagerDuty and Slack are down for a while: the notification is retried
// with backoff, delivered once they are back, and delivered once only.
func TestNotifyReceiverDownThenBack(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		p := newProviders(t)
		down := fakes.Fault{Status: http.StatusServiceUnavailable}
		p.pd.Fail(down, down, down)
		p.slack.Fail(down, down)
		e.writeConfig(p.notifyConfig(e))
		k := e.start()
		k.postAlerts(t, firing("alertname", "Outage", "instance", "web-1"))

		waitFor(t, "delivery after the outage", func() bool {
			return len(p.pd.Events()) == 1 && len(p.slack.Messages()) == 1
		})
		outboxDrained(t, k)
		if n, m := len(p.pd.Events()), p.slack.Messages(); n != 1 || len(m) != 1 || len(m[0].Versions) != 1 {
			t.Fatalf("PagerDuty got %d events, Slack %+v; want each delivered exactly once", n, m)
		}
		inc := k.onlyIncident(t)
		var pdRetries, slackRetries int
		for _, ev := range events(inc, "notification_retrying") {
			switch {
			case strings.HasPrefix(ev.Message, "pagerduty[0]") && strings.Contains(ev.Message, "503"):
				pdRetries++
			case strings.HasPrefix(ev.Message, "slack[0]") && strings.Contains(ev.Message, "503"):
				slackRetries++
			}
		}
		if pdRetries != 3 || slackRetries != 2 {
			t.Errorf("timeline has %d PagerDuty and %d Slack retries, want 3 and 2: %s", pdRetries, slackRetries, asJSON(inc.Timeline))
		}
		checkDeliveryTimeline(t, inc)
		checkNoSecrets(t, e, k)
	})
}

// Klaxon is killed while notifications are being sent: after a restart,
// every notification reaches the receiver at least once, and only those
// in flight at the kill may arrive twice.
func TestNotifyKilledWhileSending(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		srv := webhooktest.NewServer()
		t.Cleanup(srv.Close)
		const groups = 12
		hold := make(chan struct{})
		for range groups {
			srv.Script(webhooktest.Response{Hold: hold})
		}
		e.writeConfig(fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s/hook
`, srv.URL))
		k := e.start("--notifier.lease=2s")
		var alerts []alert
		for i := range groups {
			alerts = append(alerts, firing("alertname", fmt.Sprintf("Crash%02d", i), "instance", "web-1"))
		}
		k.postAlerts(t, alerts...)
		waitFor(t, "sends in flight", func() bool { return len(srv.Requests()) > 0 })
		k.kill()
		inFlight := len(srv.Requests())
		close(hold)
		k.startAgain()

		received := map[string]int{}
		waitFor(t, "every group delivered", func() bool {
			clear(received)
			for _, r := range srv.Requests() {
				if m, err := r.Message(); err == nil {
					received[m.GroupLabels["alertname"]]++
				}
			}
			return len(received) == groups
		})
		outboxDrained(t, k)
		twice := 0
		for name, n := range received {
			if n > 1 {
				twice++
			}
			if n > 2 {
				t.Errorf("%s delivered %d times", name, n)
			}
		}
		if twice > inFlight {
			t.Errorf("%d groups delivered twice, but only %d sends were in flight at the kill", twice, inFlight)
		}
		for _, inc := range k.incidents(t) {
			if len(events(k.incident(t, inc.ID), "notification_sent")) == 0 {
				t.Errorf("incident %d (%s) has no notification_sent on its timeline", inc.ID, inc.Title)
			}
		}
	})
}

// A storm of 429s from Slack and PagerDuty while the group changes: every
// state that gets through arrives in order, the last one is the group's
// last state, and nothing is posted twice.
func TestNotifyRateLimitStorm(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		p := newProviders(t)
		limited := fakes.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second}
		p.slack.Fail(limited, limited, limited, limited)
		p.pd.Fail(limited, limited, limited, limited)
		e.writeConfig(p.notifyConfig(e))
		k := e.start()

		one := firing("alertname", "Storm", "instance", "db-1")
		two := firing("alertname", "Storm", "instance", "db-2")
		k.postAlerts(t, one)
		waitFor(t, "the first rate-limited call", func() bool { return p.slack.Calls() > 0 })
		k.postAlerts(t, two)
		waitFor(t, "the second alert to be queued", func() bool {
			return len(events(k.onlyIncident(t), "notification_queued")) == 2
		})
		k.postAlerts(t, one.resolved(), two.resolved())
		waitFor(t, "the resolution everywhere", func() bool {
			m := p.slack.Messages()
			actions, _ := p.pdActions()
			return len(m) == 1 && strings.Contains(slackText(m[0].Versions[len(m[0].Versions)-1]), "Resolved") &&
				len(actions) > 0 && actions[len(actions)-1] == "resolve"
		})
		outboxDrained(t, k)

		// States in order: 0 firing db-1, 1 firing db-1 and db-2, 2 resolved.
		var states []int
		for _, v := range p.slack.Messages()[0].Versions {
			switch text := slackText(v); {
			case strings.Contains(text, "Resolved"):
				states = append(states, 2)
			case strings.Contains(text, "db-2"):
				states = append(states, 1)
			default:
				states = append(states, 0)
			}
		}
		if !slices.IsSorted(states) || len(slices.Compact(slices.Clone(states))) != len(states) {
			t.Errorf("Slack message went through states %v; want each state at most once, in order", states)
		}
		actions, keys := p.pdActions()
		if len(keys) != 1 || slices.Index(actions, "resolve") != len(actions)-1 {
			t.Errorf("PagerDuty got %v on %d keys; want triggers then one resolve, on one key", actions, len(keys))
		}
		if p.slack.Calls() < 5 {
			t.Errorf("Slack answered %d calls; the four 429s were not all met", p.slack.Calls())
		}
	})
}
