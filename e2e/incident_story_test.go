package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/incidents"
)

// startIncidents starts klaxon with incidentConfig and a movable clock.
func startIncidents(t *testing.T, store string) (*env, *providers, *clock, *klaxon) {
	t.Helper()
	e := newEnv(t, store)
	p := newProviders(t)
	e.writeConfig(p.incidentConfig())
	clk := newClock(t, e)
	k := e.start(append(clk.flag(), "--web.external-url", "https://klaxon.example.com/")...)
	return e, p, clk, k
}

var diskFull = firing("alertname", "DiskFull", "instance", "db-1", "severity", "critical")

// An alert fires. Step 1 emails alice, on call for "day"; nobody acks in
// five minutes, so step 2 messages bob on Slack. Bob presses Acknowledge
// on the channel's message: the message shows it, PagerDuty is
// acknowledged, escalation stops. The alert resolves, the incident with
// it, and the postmortem starts from the complete timeline.
func TestIncidentStoryEscalateAckResolvePostmortem(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		_, p, clk, k := startIncidents(t, store)
		k.postAlerts(t, diskFull)
		waitFor(t, "step 1: the channel's message, PagerDuty's trigger and alice's mail", func() bool {
			return len(p.slack.Messages()) == 1 && len(p.pd.Events()) == 1 && len(p.mailsTo(t, "alice@example.com")) == 1
		})
		inc := k.onlyIncident(t)
		ackToken(t, p.mailsTo(t, "alice@example.com")[0])

		clk.set(5 * time.Minute)
		waitFor(t, "step 2: bob's Slack message", func() bool { return len(p.slack.Messages()) == 2 })

		for name, code := range map[string]int{
			"wrong secret":     k.pressSlackButton(t, "klaxon_ack", inc.ID, bobSlackID, "not-the-secret", time.Now()),
			"stale timestamp":  k.pressSlackButton(t, "klaxon_ack", inc.ID, bobSlackID, slackSigningSecret, time.Now().Add(-6*time.Minute)),
			"unknown incident": k.pressSlackButton(t, "klaxon_ack", 999, bobSlackID, slackSigningSecret, time.Now()),
		} {
			want := map[bool]int{true: http.StatusNotFound, false: http.StatusUnauthorized}[name == "unknown incident"]
			if code != want {
				t.Errorf("Slack press with %s: status %d, want %d", name, code, want)
			}
		}
		if st := k.incident(t, inc.ID).Status; st != incidents.Triggered {
			t.Fatalf("after rejected presses the incident is %s", st)
		}
		if code := k.pressSlackButton(t, "klaxon_ack", inc.ID, bobSlackID, slackSigningSecret, time.Now()); code != http.StatusOK {
			t.Fatalf("signed Acknowledge press: status %d", code)
		}
		key := p.pd.Events()[0].DedupKey
		waitFor(t, "the channel's message updated and PagerDuty acknowledged", func() bool {
			return len(p.slack.Messages()[0].Versions) == 2 && p.pd.State(key) == "acknowledged"
		})
		if v := slackText(p.slack.Messages()[0].Versions[1]); !strings.Contains(v, "Acknowledged* by bob via slack") || strings.Contains(v, "klaxon_ack") {
			t.Errorf("acknowledged Slack message: %s", v)
		}

		// Step 3 would be due now, had the ack not stopped the escalation.
		clk.set(10 * time.Minute)
		k.postAlerts(t, diskFull.resolved())
		waitFor(t, "the incident resolved with its alert", func() bool { return k.incident(t, inc.ID).Status == incidents.Resolved })
		got := kinds(k.incident(t, inc.ID))
		want := []string{"opened", "escalation_started", "escalated", "escalated", "acknowledged", "resolved"}
		if !inOrder(got, want) || slices.Contains(got, "escalation_exhausted") || count(got, "escalated") != 2 {
			t.Errorf("timeline %v, want %v in order and no escalation after the ack", got, want)
		}
		if n := len(p.slack.Messages()); n != 2 {
			t.Errorf("%d Slack messages, want the channel's and bob's", n)
		}

		path := fmt.Sprintf("/api/v1/incidents/%d/postmortem", inc.ID)
		if code, body := k.post(t, path, `{"by": "bob"}`); code != http.StatusCreated {
			t.Fatalf("create postmortem: %d %s", code, body)
		}
		code, md := k.get(t, path+"?format=markdown")
		for _, want := range []string{"# Postmortem: DiskFull", "| escalated |", "| acknowledged | bob (slack) |", "| resolved |", "## Action items"} {
			if code != http.StatusOK || !strings.Contains(md, want) {
				t.Errorf("postmortem Markdown (%d) lacks %q:\n%s", code, want, md)
			}
		}
	})
}

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// Alice acknowledges through the link in her mail: opening it only shows
// a confirmation page, confirming acks, and the link works once. The
// alert still fires 30 minutes later, so the ack times out: the incident
// is triggered again and alice is paged again.
func TestIncidentAckByEmailLinkThenAckTimeout(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		_, p, clk, k := startIncidents(t, store)
		k.postAlerts(t, diskFull)
		waitFor(t, "alice's mail", func() bool { return len(p.mailsTo(t, "alice@example.com")) == 1 })
		inc := k.onlyIncident(t)
		tok := ackToken(t, p.mailsTo(t, "alice@example.com")[0])

		if code, page := k.get(t, "/ack/"+tok); code != http.StatusOK || !strings.Contains(page, `<form method="post">`) {
			t.Fatalf("opening the link: %d %s", code, page)
		}
		if st := k.incident(t, inc.ID).Status; st != incidents.Triggered {
			t.Fatalf("opening the link acknowledged (%s): link scanners would ack", st)
		}
		if code, page := k.post(t, "/ack/"+tok, ""); code != http.StatusOK {
			t.Fatalf("confirming: %d %s", code, page)
		}
		acked := k.incident(t, inc.ID)
		if acked.Status != incidents.Acknowledged || *acked.AckedBy != (incidents.Actor{Name: "alice", Via: "email"}) {
			t.Fatalf("after confirming: %s by %+v", acked.Status, acked.AckedBy)
		}
		if code, page := k.post(t, "/ack/"+tok, ""); code != http.StatusGone || !strings.Contains(page, "already used") {
			t.Errorf("reusing the link: %d %s", code, page)
		}
		if code, _ := k.post(t, "/ack/"+tok[:len(tok)-4]+"AAAA", ""); code != http.StatusForbidden {
			t.Errorf("a forged link: status %d, want 403", code)
		}

		clk.set(31 * time.Minute)
		waitFor(t, "the ack timeout paging alice again", func() bool {
			return len(p.mailsTo(t, "alice@example.com")) == 2 && k.incident(t, inc.ID).Status == incidents.Triggered
		})
		if got := kinds(k.incident(t, inc.ID)); !inOrder(got, []string{"acknowledged", "ack_timeout", "escalated"}) {
			t.Errorf("timeline %v lacks the ack timeout and the new page", got)
		}
		// The new mail has a new link; the old one, long expired by now
		// if not used, stays refused.
		if fresh := ackToken(t, p.mailsTo(t, "alice@example.com")[1]); fresh == tok {
			t.Error("the re-page reused the used ack link")
		}
	})
}

// PagerDuty's webhooks move the incident: a badly signed one changes
// nothing, an acknowledgement there acks here and updates Slack. The
// alert resolves and fires again within the re-open window: the same
// incident re-opens rather than a new one.
func TestIncidentPagerDutyWebhookAndReopen(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		_, p, _, k := startIncidents(t, store)
		k.postAlerts(t, diskFull)
		waitFor(t, "the first notifications", func() bool { return len(p.pd.Events()) == 1 && len(p.slack.Messages()) == 1 })
		inc := k.onlyIncident(t)
		key := p.pd.Events()[0].DedupKey

		if code := k.pagerDutyWebhook(t, "incident.acknowledged", key, "not-the-secret"); code != http.StatusForbidden {
			t.Errorf("badly signed webhook: status %d, want 403", code)
		}
		if code := k.pagerDutyWebhook(t, "incident.acknowledged", "no-such-key", pdWebhookSecret); code != http.StatusNotFound {
			t.Errorf("webhook for an unknown incident: status %d, want 404", code)
		}
		if st := k.incident(t, inc.ID).Status; st != incidents.Triggered {
			t.Fatalf("after rejected webhooks the incident is %s", st)
		}
		if code := k.pagerDutyWebhook(t, "incident.acknowledged", key, pdWebhookSecret); code != http.StatusOK {
			t.Fatalf("signed webhook: status %d", code)
		}
		acked := k.incident(t, inc.ID)
		if acked.Status != incidents.Acknowledged || *acked.AckedBy != (incidents.Actor{Name: "Carol", Via: "pagerduty"}) {
			t.Fatalf("after the webhook: %s by %+v", acked.Status, acked.AckedBy)
		}
		waitFor(t, "the Slack message showing the ack", func() bool { return len(p.slack.Messages()[0].Versions) == 2 })

		k.postAlerts(t, diskFull.resolved())
		waitFor(t, "the resolution", func() bool { return k.incident(t, inc.ID).Status == incidents.Resolved })
		k.postAlerts(t, firing("alertname", "DiskFull", "instance", "db-1", "severity", "critical"))
		waitFor(t, "the re-opened incident", func() bool { return k.incident(t, inc.ID).Status == incidents.Triggered })
		if list := k.incidents(t); len(list) != 1 {
			t.Errorf("%d incidents, want the one re-opened", len(list))
		}
		if got := kinds(k.incident(t, inc.ID)); !inOrder(got, []string{"acknowledged", "resolved", "reopened"}) {
			t.Errorf("timeline %v lacks the re-opening", got)
		}

		// Silence 1h on the Slack message silences the group's labels.
		if code := k.pressSlackButton(t, "klaxon_silence_1h", inc.ID, bobSlackID, slackSigningSecret, time.Now()); code != http.StatusOK {
			t.Fatalf("Silence 1h press: status %d", code)
		}
		if code, body := k.get(t, "/api/v2/silences"); code != http.StatusOK || !strings.Contains(body, "Silenced from Slack for incident") ||
			!strings.Contains(body, `"createdBy":"bob"`) {
			t.Errorf("silences after Silence 1h: %d %s", code, body)
		}
	})
}

// Carol joins through the API, with no reload, and takes an override on
// the file's schedule "day": step 1 emails her beside alice.
func TestIncidentPagesAUserCreatedThroughTheAPI(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		_, p, _, k := startIncidents(t, store)
		if code, body := k.post(t, "/api/v1/users", `{"name": "carol", "contactMethods": [{"type": "email", "to": "carol@example.com"}]}`); code != http.StatusCreated {
			t.Fatalf("create carol: %d %s", code, body)
		}
		now := time.Now().UTC()
		override := fmt.Sprintf(`{"start": %q, "end": %q, "add": "carol"}`,
			now.Add(-time.Hour).Format(time.RFC3339), now.Add(24*time.Hour).Format(time.RFC3339))
		if code, body := k.post(t, "/api/v1/schedules/day/overrides", override); code != http.StatusCreated {
			t.Fatalf("override: %d %s", code, body)
		}
		k.postAlerts(t, diskFull)
		waitFor(t, "step 1: alice's and carol's mails", func() bool {
			return len(p.mailsTo(t, "alice@example.com")) == 1 && len(p.mailsTo(t, "carol@example.com")) == 1
		})
		ackToken(t, p.mailsTo(t, "carol@example.com")[0])
		if got := kinds(k.onlyIncident(t)); slices.Contains(got, "page_failed") {
			t.Errorf("timeline %v has a failed page", got)
		}
	})
}
