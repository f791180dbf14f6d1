package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/incidents"
)

// An alert pages once, the page is acknowledged, the acknowledgement holds
// back repeats across a restart, a new alert in the group pages again, and
// the resolution closes the incident.
func TestAlertToPageToAckSurvivesRestart(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		k := e.start()
		disk := firing("alertname", "DiskFull", "instance", "db-1", "severity", "page")
		k.postAlerts(t, disk)

		page := e.hook.waitCount(t, 1)[0]
		checkPayload(t, page, "firing", disk)
		inc := k.onlyIncident(t)
		if inc.Status != incidents.Triggered || len(inc.Alerts) != 1 || inc.Alerts[0].Fingerprint != page.Alerts[0].Fingerprint {
			t.Fatalf("want a triggered incident with the paged alert, got %s", asJSON(inc))
		}

		inc = k.ack(t, inc.ID, "alice")
		if inc.Status != incidents.Acknowledged || inc.AckedBy == nil || inc.AckedBy.Name != "alice" || len(events(inc, "acknowledged")) != 1 {
			t.Fatalf("want the incident acknowledged by alice, on its timeline, got %s", asJSON(inc))
		}
		e.hook.quietFor(t, 8*time.Second, 1) // more than two repeat_intervals: no repeat

		k.restart()
		inc = k.incident(t, inc.ID)
		if inc.Status != incidents.Acknowledged || len(inc.Alerts) != 1 || inc.Alerts[0].Status != "firing" {
			t.Fatalf("after restart, want the incident still acknowledged with its firing alert, got %s", asJSON(inc))
		}
		e.hook.quietFor(t, repeatInterval+groupInterval, 1)

		disk2 := firing("alertname", "DiskFull", "instance", "db-2", "severity", "page")
		k.postAlerts(t, disk2)
		checkPayload(t, e.hook.waitCount(t, 2)[1], "firing", disk, disk2)
		e.hook.quietFor(t, groupInterval+time.Second, 2)

		k.postAlerts(t, disk.resolved(), disk2.resolved())
		checkPayload(t, e.hook.waitCount(t, 3)[2], "resolved", disk, disk2)
		waitFor(t, "the incident to resolve", func() bool {
			return k.incident(t, inc.ID).Status == incidents.Resolved
		})
		if n := len(k.incidents(t)); n != 1 {
			t.Fatalf("got %d incidents, want the one", n)
		}
	})
}

// A crash neither re-sends what was sent nor loses what was accepted.
func TestRestartDoesNotResend(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		t.Run("killed after the first notification", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, store)
			k := e.start()
			k.postAlerts(t, firing("alertname", "Flapping", "instance", "web-1"))
			first := e.hook.waitCount(t, 1)[0]
			// The receiver answered 200 a moment ago; give the outbox that
			// moment to record it. A crash in between is the at-least-once
			// window of any outbox, not what this test is about.
			time.Sleep(500 * time.Millisecond)
			k.kill()
			k.startAgain()

			// Until two repeat_intervals have passed, one repeat at most,
			// and not before repeat_interval.
			time.Sleep(time.Until(first.At.Add(2*repeatInterval - 500*time.Millisecond)))
			got := e.hook.all()
			if len(got) > 2 || (len(got) == 2 && got[1].At.Sub(first.At) < repeatInterval-deliveryJitter) {
				t.Fatalf("notifications re-sent after the crash:\n%s", e.hook.describe())
			}
			e.hook.waitCount(t, 2) // the restarted process does repeat
			queued := events(k.onlyIncident(t), "notification_queued")
			if len(queued) < 2 || queued[1].At.Sub(queued[0].At) < repeatInterval {
				t.Fatalf("want the second notification repeat_interval after the first, got timeline %s", asJSON(queued))
			}
		})
		t.Run("killed during group_wait", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, store)
			k := e.start()
			k.postAlerts(t, firing("alertname", "Early", "instance", "web-2"))
			k.kill() // the POST returned 200: the alert is durable
			if n := e.hook.count(); n != 0 {
				t.Fatalf("got %d notifications before the kill; the kill must fall inside group_wait", n)
			}
			k.startAgain()

			first := e.hook.waitCount(t, 1)[0]
			checkPayload(t, first, "firing", firing("alertname", "Early", "instance", "web-2"))
			e.hook.quietUntil(t, first.At.Add(repeatInterval-deliveryJitter), 1)
			if n := len(events(k.onlyIncident(t), "notification_queued")); n != 1 {
				t.Fatalf("got %d notifications queued, want 1", n)
			}
		})
	})
}

// deliveryJitter allows for one notification taking longer than another
// between its flush and the receiver.
const deliveryJitter = 500 * time.Millisecond

// An alert posted by Prometheus and forwarded by an Alertmanager is one
// alert: one notification, one incident.
func TestSameAlertFromBothPaths(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		k := e.start()
		api := firing("alertname", "Twice", "instance", "api-1", "job", "api")
		k.postAlerts(t, api)
		k.forward(t, api)

		n := e.hook.waitCount(t, 1)[0]
		checkPayload(t, n, "firing", api)
		e.hook.quietFor(t, groupInterval+time.Second, 1)
		inc := k.onlyIncident(t)
		if len(inc.Alerts) != 1 || inc.Alerts[0].Fingerprint != n.Alerts[0].Fingerprint {
			t.Fatalf("want one alert on the incident, fingerprint %s, got %s", n.Alerts[0].Fingerprint, asJSON(inc.Alerts))
		}
		if received, _ := k.metric(t, "klaxon_alerts_received_total"); received != 2 {
			t.Errorf("klaxon_alerts_received_total = %v, want 2 (one per path)", received)
		}
	})
}

// Bad requests are refused with a reason, and nothing of them is stored.
func TestBadInput(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		k := e.start("--web.max-request-body-size=1KiB")
		huge := `[{"labels": {"alertname": "Huge"}, "annotations": {"description": "` + strings.Repeat("x", 2048) + `"}}]`
		for _, c := range []struct{ name, body, wantErr string }{
			{"malformed JSON", `[{"labels": {"alertname": "Bad"}`, "invalid JSON"},
			{"label value of wrong type", `[{"labels": {"alertname": "Bad", "instance": 42}}]`, "alert[0].labels.instance: expected string, got number"},
			{"invalid label name", `[{"labels": {"alertname": "Bad", "": "x"}}]`, `alert[0]: invalid label set: invalid name ""`},
			{"empty label set", `[{"labels": {}}]`, "alert[0]: at least one label pair required"},
			{"body larger than 1KiB", huge, "request body exceeds 1024 bytes"},
		} {
			want := http.StatusBadRequest
			if c.name == "body larger than 1KiB" {
				want = http.StatusRequestEntityTooLarge
			}
			status, body := k.post(t, "/api/v2/alerts", c.body)
			var answer struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			}
			_ = json.Unmarshal([]byte(body), &answer)
			if status != want || answer.Status != want || !strings.Contains(answer.Error, c.wantErr) {
				t.Errorf("%s: got %d %s, want %d with {\"status\":%d,\"error\":\"...%s...\"}", c.name, status, body, want, want, c.wantErr)
			}
		}

		e.hook.quietFor(t, groupWait+groupInterval, 0)
		if list := k.incidents(t); len(list) != 0 {
			t.Fatalf("bad input opened incidents: %s", asJSON(list))
		}
		if received, _ := k.metric(t, "klaxon_alerts_received_total"); received != 0 {
			t.Fatalf("klaxon_alerts_received_total = %v after bad input only, want 0", received)
		}
		good := firing("alertname", "Good", "instance", "ok-1")
		k.postAlerts(t, good)
		checkPayload(t, e.hook.waitCount(t, 1)[0], "firing", good) // nothing else rides along
	})
}

// A person on call lists and acknowledges incidents from the terminal.
func TestCLI(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		k := e.start()
		k.postAlerts(t, firing("alertname", "CLIAlert", "instance", "cli-1", "service", "checkout"))
		e.hook.waitCount(t, 1)
		id := strconv.FormatInt(k.onlyIncident(t).ID, 10)

		list := e.cli(t, "incidents", "list", "--klaxon.url", k.URL)
		if list.code != 0 || !strings.Contains(list.stdout, "CLIAlert") || !strings.Contains(list.stdout, "triggered") ||
			!strings.Contains(list.stdout, id) {
			t.Fatalf("incidents list: want incident %s, triggered, CLIAlert; got %s", id, list)
		}
		var listed []incidents.Incident
		list = e.cli(t, "incidents", "list", "--klaxon.url", k.URL, "-o", "json")
		if err := json.Unmarshal([]byte(list.stdout), &listed); err != nil || len(listed) != 1 || listed[0].Title != "CLIAlert" ||
			listed[0].Service != "checkout" {
			t.Fatalf("incidents list -o json: want the one incident, of service checkout (%v), got %s", err, list)
		}
		for _, c := range []struct {
			flags []string
			want  int
		}{
			{[]string{"--service", "checkout", "--status", "triggered"}, 1},
			{[]string{"--service", "billing"}, 0},
			{[]string{"--assignee", "carol"}, 0},
		} {
			args := append([]string{"incidents", "list", "--klaxon.url", k.URL, "-o", "json"}, c.flags...)
			out := e.cli(t, args...)
			var got []incidents.Incident
			if err := json.Unmarshal([]byte(out.stdout), &got); err != nil || len(got) != c.want {
				t.Fatalf("incidents list %v: want %d incidents (%v), got %s", c.flags, c.want, err, out)
			}
		}

		ack := e.cli(t, "incidents", "ack", id, "--klaxon.url", k.URL, "--by", "bob")
		inc := k.incident(t, listed[0].ID)
		if ack.code != 0 || inc.Status != incidents.Acknowledged || inc.AckedBy == nil || *inc.AckedBy != (incidents.Actor{Name: "bob", Via: "cli"}) {
			t.Fatalf("incidents ack: want exit 0 and the incident acknowledged by bob via cli, got %s\nincident: %s", ack, asJSON(inc))
		}
		if acked := events(inc, "acknowledged"); len(acked) != 1 || acked[0].Actor.Via != "cli" {
			t.Fatalf("want one acknowledgement via cli on the timeline, got %s", asJSON(inc.Timeline))
		}

		unack := e.cli(t, "incidents", "unack", id, "--klaxon.url", k.URL, "--by", "bob")
		inc = k.incident(t, listed[0].ID)
		if unacked := events(inc, "unacknowledged"); unack.code != 0 || inc.Status != incidents.Triggered || len(unacked) != 1 ||
			unacked[0].Actor != (incidents.Actor{Name: "bob", Via: "cli"}) {
			t.Fatalf("incidents unack: want exit 0 and the incident triggered again by bob via cli, got %s\nincident: %s", unack, asJSON(inc))
		}

		unknown := e.cli(t, "incidents", "ack", "987654", "--klaxon.url", k.URL)
		if unknown.code == 0 || !strings.Contains(unknown.stderr, "not found") {
			t.Fatalf("incidents ack of an unknown id: want a non-zero exit and \"not found\", got %s", unknown)
		}
	})
}

// The operational endpoints work, and a broken configuration is refused
// without stopping anything.
func TestHealthReadyMetricsReload(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		k := e.start()
		for _, path := range []string{"/-/healthy", "/-/ready"} {
			if status, body := k.get(t, path); status != http.StatusOK {
				t.Errorf("GET %s: %d %s, want 200", path, status, body)
			}
		}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "klaxon_alerts_received_total"} {
			if _, ok := k.metric(t, name); !ok {
				t.Errorf("/metrics has no %s", name)
			}
		}
		// Started on port 0, the server names itself by the port it got.
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(k.URL, "http://"))
		// On PostgreSQL the replica settles first: it lists itself once its
		// heartbeat is in and its slots are held.
		waitFor(t, "/api/v2/status to list this process on port "+port+", ready", func() bool {
			peers, status := clusterStatus(k.URL, e.adminToken())
			return len(peers) == 1 && strings.HasSuffix(peers[0], ":"+port) && status == "ready"
		})

		broken := "route:\n  receiver: hook\n  group_by: @alertname\n"
		e.writeConfig(broken)
		if status, body := k.post(t, "/-/reload", ""); status != http.StatusBadRequest || !strings.Contains(body, "line 3") {
			t.Errorf("POST /-/reload of a broken file: got %d %q, want 400 naming line 3", status, body)
		}
		if v, ok := k.metric(t, "klaxon_config_last_reload_successful"); !ok || v != 0 {
			t.Errorf("klaxon_config_last_reload_successful = %v after a failed reload, want 0", v)
		}
		alive := firing("alertname", "StillRouted", "instance", "r-1")
		k.postAlerts(t, alive) // the running configuration still routes it
		checkPayload(t, e.hook.waitCount(t, 1)[0], "firing", alive)
		if opened, _ := k.metric(t, "klaxon_incidents_opened_total"); opened != 1 {
			t.Errorf("klaxon_incidents_opened_total = %v, want 1", opened)
		}
		// The outbox records the send after the receiver has answered, so
		// the counter may trail the webhook's arrival by a moment.
		waitFor(t, "klaxon_notifications_total after a notification", func() bool {
			_, ok := k.metric(t, "klaxon_notifications_total")
			return ok
		})

		e.writeConfig(e.goodConfig())
		// SIGHUP reloads as POST /-/reload does; the good file takes.
		if err := k.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "klaxon_config_last_reload_successful = 1 after SIGHUP", func() bool {
			v, ok := k.metric(t, "klaxon_config_last_reload_successful")
			return ok && v == 1
		})
		if r := e.cli(t, "check-config", e.config); r.code != 0 || !strings.Contains(r.stdout, "SUCCESS") {
			t.Errorf("check-config of a valid file: want exit 0 and SUCCESS, got %s", r)
		}
		e.writeConfig(broken)
		if r := e.cli(t, "check-config", e.config); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "line 3") {
			t.Errorf("check-config of a broken file: want exit 1 naming line 3, got %s", r)
		}
	})
}
