package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/incidents"
)

// An alert fires, resolves, fires again and is acknowledged, then resolved
// by hand. One Slack message per incident follows the incident through its
// states (the second firing is a new incident, so a new message); PagerDuty
// sees trigger, resolve, trigger, acknowledge (then resolve) on one dedup
// key; the inbox has a mail per firing and resolution, but none for the
// acknowledgement, which only the channels that can show it in place are
// told about.
func TestNotifyFireResolveFireAck(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		p := newProviders(t)
		e.writeConfig(p.notifyConfig(e))
		k := e.start("--web.external-url", "https://klaxon.example.com/")

		disk := firing("alertname", "DiskFull", "instance", "db-1", "severity", "critical")
		disk.Annotations = map[string]string{"summary": "Disk on db-1 is 95% full", "runbook_url": "https://runbooks.example/disk"}
		k.postAlerts(t, disk)
		waitFor(t, "the first notifications", func() bool {
			return len(p.slack.Messages()) == 1 && len(p.pd.Events()) == 1 && len(p.mail.Messages(t)) == 1 && e.hook.count() == 1
		})
		first := k.onlyIncident(t)
		msg := p.slack.Messages()[0]
		for _, want := range []string{"Firing", "DiskFull", "Disk on db-1 is 95% full", "https://runbooks.example/disk",
			fmt.Sprintf("https://klaxon.example.com/api/v1/incidents/%d", first.ID), "klaxon_ack", "klaxon_silence_1h"} {
			if !strings.Contains(slackText(msg.Versions[0]), want) {
				t.Errorf("first Slack message lacks %q: %s", want, slackText(msg.Versions[0]))
			}
		}

		k.postAlerts(t, disk.resolved())
		waitFor(t, "the resolution", func() bool {
			m := p.slack.Messages()
			return len(m) == 1 && len(m[0].Versions) == 2 && len(p.pd.Events()) == 2 && len(p.mail.Messages(t)) == 2
		})
		if v := p.slack.Messages()[0].Versions[1]; !strings.Contains(slackText(v), "Resolved") || strings.Contains(slackText(v), "klaxon_ack") {
			t.Errorf("resolved Slack message: %s", slackText(v))
		}

		k.postAlerts(t, firing("alertname", "DiskFull", "instance", "db-1", "severity", "critical"))
		waitFor(t, "the second firing", func() bool {
			return len(p.slack.Messages()) == 2 && len(p.pd.Events()) == 3 && len(p.mail.Messages(t)) == 3
		})
		list := k.incidents(t)
		if len(list) != 2 || list[0].Status != incidents.Triggered || list[1].Status != incidents.Resolved {
			t.Fatalf("want a new triggered incident beside the resolved one, got %s", asJSON(list))
		}
		second := list[0]

		k.ack(t, second.ID, "alice")
		waitFor(t, "the acknowledgement in Slack and PagerDuty", func() bool {
			m := p.slack.Messages()
			return len(m) == 2 && len(m[1].Versions) == 2 && len(p.pd.Events()) == 4
		})
		ack := slackText(p.slack.Messages()[1].Versions[1])
		if !strings.Contains(ack, "Acknowledged* by alice via api") || strings.Contains(ack, "klaxon_ack") {
			t.Errorf("acknowledged Slack message: %s", ack)
		}
		actions, keys := p.pdActions()
		if !slices.Equal(actions, []string{"trigger", "resolve", "trigger", "acknowledge"}) || len(keys) != 1 {
			t.Errorf("PagerDuty got %v with dedup keys %v; want trigger, resolve, trigger, acknowledge on one key", actions, keys)
		}
		for key := range keys {
			if st := p.pd.State(key); st != "acknowledged" {
				t.Errorf("PagerDuty alert is %q, want acknowledged", st)
			}
		}
		checkMails(t, p)
		checkDeliveryTimeline(t, k.incident(t, second.ID))

		// Resolved by hand while the alert still fires: the message and
		// PagerDuty follow; mail and webhook are not told.
		if _, err := k.API.Resolve(apiContext(t), second.ID, "bob", "cli"); err != nil {
			t.Fatalf("resolve incident %d: %v", second.ID, err)
		}
		waitFor(t, "the resolution by hand in Slack and PagerDuty", func() bool {
			m := p.slack.Messages()
			return len(m) == 2 && len(m[1].Versions) == 3 && len(p.pd.Events()) == 5
		})
		if v := slackText(p.slack.Messages()[1].Versions[2]); !strings.Contains(v, "Resolved* by bob via cli") || strings.Contains(v, "klaxon_resolve") {
			t.Errorf("Slack message after the resolution by hand: %s", v)
		}
		if actions, _ := p.pdActions(); actions[4] != "resolve" {
			t.Errorf("PagerDuty got %v, want a resolve last", actions)
		}
		outboxDrained(t, k)
		if n := len(p.mail.Messages(t)); n != 3 {
			t.Errorf("%d mails, want 3", n)
		}
		if n := e.hook.count(); n != 3 {
			t.Errorf("webhook got %d notifications, want 3 (no acknowledgement)", n)
		}
		for _, name := range []string{"klaxon_notifications_total", "klaxon_notification_latency_seconds_count"} {
			if v, ok := k.metric(t, name); !ok || v < 16 { // 5 Slack, 5 PagerDuty, 3 mails, 3 webhooks
				t.Errorf("%s = %v (exposed %v), want the deliveries counted", name, v, ok)
			}
		}
		checkNoSecrets(t, e, k)
	})
}

func checkMails(t *testing.T, p *providers) {
	t.Helper()
	mails := p.mail.Messages(t)
	var subjects []string
	for _, m := range mails {
		subjects = append(subjects, m.Subject)
	}
	want := []string{"[FIRING:1] DiskFull (db-1 critical)", "[RESOLVED] DiskFull (db-1 critical)", "[FIRING:1] DiskFull (db-1 critical)"}
	if !slices.Equal(subjects, want) {
		t.Errorf("mail subjects %q, want %q", subjects, want)
	}
	for i, m := range mails {
		if m.HTML == "" || !strings.Contains(m.Text, "https://klaxon.example.com/api/v1/incidents/") ||
			len(m.To) != 1 || m.To[0].Address != "oncall@example.com" {
			t.Errorf("mail %d: to %v, text %q, html %d bytes", i, m.To, m.Text, len(m.HTML))
		}
	}
}

// checkDeliveryTimeline expects each integration's attempts on the
// incident's timeline.
func checkDeliveryTimeline(t *testing.T, inc *incidents.Incident) {
	t.Helper()
	var sent []string
	for _, ev := range events(inc, "notification_sent") {
		sent = append(sent, strings.SplitN(ev.Message, " ", 2)[0])
	}
	for _, want := range []string{"slack[0]", "pagerduty[0]", "email[0]", "webhook[0]"} {
		if !slices.Contains(sent, want) {
			t.Errorf("timeline lacks a notification_sent for %s: %s", want, asJSON(inc.Timeline))
		}
	}
}
