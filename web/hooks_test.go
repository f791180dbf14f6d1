package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/notifiers/pagerduty"
	"github.com/klaxon-dev/klaxon/storage"
)

const (
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	pdSecret    = "pd-webhook-secret"
	hooksConfig = `route:
  receiver: team
receivers:
  - name: team
    webhook_configs: [{url: "http://127.0.0.1:9/unused"}]
incidents:
  slack_signing_secret: ` + slackSecret + `
  pagerduty_webhook_secret: ` + pdSecret + `
  ack_link_secret: link-secret
users:
  - name: alice
    contact_methods: [{type: slack, to: U024BE7LH}]
`
	groupKey = `{}:{alertname="Down"}`
)

// hooks is a web server on a real store with the real incident service
// and outbox, and one triggered incident.
type hooks struct {
	t   *testing.T
	srv *httptest.Server
	inc *incidents.Service
	clk *clockwork.FakeClock
	id  int64
}

func newHooks(t *testing.T, db *storage.DB) *hooks {
	t.Helper()
	w := newIncidentWorld(t, db, hooksConfig, model.Alert{Labels: model.LabelSet{"alertname": "Down"}})
	inc, clk, reg := w.inc, w.clk, w.reg
	srv := httptest.NewServer(asAdmin(t, Options{Incidents: inc, Gatherer: reg, Registerer: reg, Now: clk.Now}))
	t.Cleanup(srv.Close)
	return &hooks{t: t, srv: srv, inc: inc, clk: clk, id: w.id}
}

func (h *hooks) status() incidents.Status {
	h.t.Helper()
	inc, err := h.inc.Get(context.Background(), h.id)
	if err != nil {
		h.t.Fatal(err)
	}
	return inc.Status
}

func (h *hooks) post(path string, header http.Header, body string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// slackPress is the form body Slack posts when a button is pressed.
func slackPress(action string, id int64) string {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions",
		"user": map[string]any{"id": "U024BE7LH", "name": "alice.s"},
		"actions": []map[string]any{{"action_id": action, "block_id": "klaxon_actions", "value": strconv.FormatInt(id, 10),
			"type": "button"}},
	})
	return url.Values{"payload": {string(payload)}}.Encode()
}

// slackHeaders signs body as Slack does: v0=hex(HMAC-SHA256(secret, "v0:ts:body")).
func slackHeaders(secret, body string, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {"v0=" + hex.EncodeToString(m.Sum(nil))}}
}

func TestSlackInteractions(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := newHooks(t, db)
		body := slackPress("klaxon_ack", h.id)
		for name, hdr := range map[string]http.Header{
			"wrong secret": slackHeaders("not-the-secret", body, time.Now()),
			"stale":        slackHeaders(slackSecret, body, time.Now().Add(-10*time.Minute)),
			"unsigned":     {"Content-Type": {"application/x-www-form-urlencoded"}},
		} {
			if code, _ := h.post("/hooks/slack/interactions", hdr, body); code != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, code)
			}
		}
		if st := h.status(); st != incidents.Triggered {
			t.Fatalf("after rejected requests: %s", st)
		}
		unknown := slackPress("klaxon_ack", 999)
		if code, _ := h.post("/hooks/slack/interactions", slackHeaders(slackSecret, unknown, time.Now()), unknown); code != http.StatusNotFound {
			t.Errorf("unknown incident: status %d, want 404", code)
		}
		if code, b := h.post("/hooks/slack/interactions", slackHeaders(slackSecret, body, time.Now()), body); code != http.StatusOK {
			t.Fatalf("signed press: %d %s", code, b)
		}
		inc, _ := h.inc.Get(context.Background(), h.id)
		if inc.Status != incidents.Acknowledged || *inc.AckedBy != (incidents.Actor{Name: "alice", Via: "slack"}) {
			t.Errorf("after Acknowledge: %s by %+v, want acknowledged by alice via slack", inc.Status, inc.AckedBy)
		}
		res := slackPress("klaxon_resolve", h.id)
		if code, _ := h.post("/hooks/slack/interactions", slackHeaders(slackSecret, res, time.Now()), res); code != http.StatusOK || h.status() != incidents.Resolved {
			t.Errorf("Resolve: status %d, incident %s", code, h.status())
		}
	})
}

// pdEvent is a PagerDuty v3 webhook body for the incident of groupKey.
func pdEvent(eventType, key string) string {
	b, _ := json.Marshal(map[string]any{"event": map[string]any{
		"id": "01DEN2HMPJXVZ0N9ZBEBRVM54L", "event_type": eventType, "resource_type": "incident",
		"occurred_at": "2026-11-25T10:01:00Z", "agent": map[string]any{"type": "user_reference", "summary": "Carol"},
		"data": map[string]any{"id": "PGR0VU2", "type": "incident", "incident_key": key, "status": "acknowledged"},
	}})
	return string(b)
}

func pdHeaders(body string, secrets ...string) http.Header {
	var sigs []string
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(body))
		sigs = append(sigs, "v1="+hex.EncodeToString(m.Sum(nil)))
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if len(sigs) > 0 {
		h.Set("X-PagerDuty-Signature", strings.Join(sigs, ","))
	}
	return h
}

func TestPagerDutyWebhooks(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := newHooks(t, db)
		key := pagerduty.DedupKey(groupKey)
		ack := pdEvent("incident.acknowledged", key)
		if code, _ := h.post("/hooks/pagerduty", pdHeaders(ack, "wrong"), ack); code != http.StatusForbidden {
			t.Errorf("bad signature: status %d, want 403", code)
		}
		if code, _ := h.post("/hooks/pagerduty", pdHeaders(ack), ack); code != http.StatusUnauthorized {
			t.Errorf("no signature: status %d, want 401", code)
		}
		if st := h.status(); st != incidents.Triggered {
			t.Fatalf("after rejected requests: %s", st)
		}
		other := pdEvent("incident.acknowledged", "0123456789abcdef")
		if code, _ := h.post("/hooks/pagerduty", pdHeaders(other, pdSecret), other); code != http.StatusNotFound {
			t.Errorf("unknown incident key: status %d, want 404", code)
		}
		// A rotating secret: one of several signatures matches.
		if code, b := h.post("/hooks/pagerduty", pdHeaders(ack, "old", pdSecret), ack); code != http.StatusOK {
			t.Fatalf("signed ack: %d %s", code, b)
		}
		inc, _ := h.inc.Get(context.Background(), h.id)
		if inc.Status != incidents.Acknowledged || *inc.AckedBy != (incidents.Actor{Name: "Carol", Via: "pagerduty"}) {
			t.Errorf("after incident.acknowledged: %s by %+v", inc.Status, inc.AckedBy)
		}
		for _, step := range []struct {
			event string
			want  incidents.Status
		}{
			{"incident.unacknowledged", incidents.Triggered},
			{"incident.resolved", incidents.Resolved},
			{"incident.reopened", incidents.Triggered},
		} {
			b := pdEvent(step.event, key)
			if code, _ := h.post("/hooks/pagerduty", pdHeaders(b, pdSecret), b); code != http.StatusOK || h.status() != step.want {
				t.Errorf("%s: status %d, incident %s, want %s", step.event, code, h.status(), step.want)
			}
		}
	})
}

func TestAckLinks(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := newHooks(t, db)
		tok, err := h.inc.NewAckToken(h.id, "alice")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(h.srv.URL + "/ack/" + tok)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `<form method="post">`) {
			t.Fatalf("GET: %d %s", resp.StatusCode, page)
		}
		if h.status() != incidents.Triggered {
			t.Fatal("GET acknowledged; link scanners would ack")
		}
		if code, b := h.post("/ack/"+tok, nil, ""); code != http.StatusOK || h.status() != incidents.Acknowledged {
			t.Fatalf("POST: %d %s, incident %s", code, b, h.status())
		}
		if code, b := h.post("/ack/"+tok, nil, ""); code != http.StatusGone || !strings.Contains(b, "already used") {
			t.Errorf("reused: %d %s", code, b)
		}
		if code, _ := h.post("/ack/"+tok[:len(tok)-3]+"abc", nil, ""); code != http.StatusForbidden {
			t.Errorf("tampered: status %d, want 403", code)
		}
		late, _ := h.inc.NewAckToken(h.id, "bob")
		h.clk.Advance(25 * time.Hour)
		if code, b := h.post("/ack/"+late, nil, ""); code != http.StatusGone || !strings.Contains(b, "expired") {
			t.Errorf("expired: %d %s", code, b)
		}
		unknown, _ := h.inc.NewAckToken(999, "bob")
		if code, _ := h.post("/ack/"+unknown, nil, ""); code != http.StatusNotFound {
			t.Errorf("unknown incident: status %d, want 404", code)
		}
	})
}

func TestTimelineAndEditsAPI(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := newHooks(t, db)
		base := "/api/v1/incidents/" + strconv.FormatInt(h.id, 10)
		hdr := http.Header{"Content-Type": {"application/json"}}
		for _, c := range []struct {
			method, path, body string
			want               int
		}{
			{http.MethodPost, "/ack", `{"by": "alice"}`, 200},
			{http.MethodPost, "/unack", `{"by": "alice"}`, 200},
			{http.MethodPost, "/notes", `{"by": "alice", "text": "disk full"}`, 200},
			{http.MethodPost, "/notes", `{"by": "alice", "text": ""}`, 400},
			{http.MethodPut, "/assignee", `{"by": "alice", "assignee": "bob"}`, 200},
			{http.MethodPut, "/severity", `{"severity": "warning"}`, 200},
			{http.MethodPost, "/links", `{"kind": "doc", "url": "https://wiki.example.com/x"}`, 200},
			{http.MethodPost, "/links", `{"url": "not a url"}`, 400},
		} {
			req, _ := http.NewRequest(c.method, h.srv.URL+base+c.path, strings.NewReader(c.body))
			req.Header = hdr
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s %s %s: status %d, want %d", c.method, c.path, c.body, resp.StatusCode, c.want)
			}
		}
		resp, err := http.Get(h.srv.URL + base + "/timeline")
		if err != nil {
			t.Fatal(err)
		}
		var events []incidents.Event
		err = json.NewDecoder(resp.Body).Decode(&events)
		resp.Body.Close()
		var kinds []string
		for _, e := range events {
			kinds = append(kinds, e.Kind)
		}
		want := "opened,alert_firing,notification_queued,acknowledged,unacknowledged,note,assignee_changed,severity_changed,link_added"
		if err != nil || strings.Join(kinds, ",") != want {
			t.Errorf("timeline = %v (%v), want %s", kinds, err, want)
		}
		resp, _ = http.Get(h.srv.URL + "/api/v1/incidents/999/timeline")
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("timeline of unknown incident: %d, want 404", resp.StatusCode)
		}
	})
}
