package fakes

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, h http.Handler, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Result(), body
}

const key = "K0123456789abcdef0123456789abcde"

func pdEvent(t *testing.T, p *PagerDuty, body string) (int, map[string]any) {
	t.Helper()
	resp, b := do(t, p, httptest.NewRequest(http.MethodPost, "/v2/enqueue", strings.NewReader(body)))
	return resp.StatusCode, b
}

// The PagerDuty fake refuses what the Events API v2 documents as invalid.
func TestPagerDutyValidatesEvents(t *testing.T) {
	p := NewPagerDuty()
	trigger := `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"d1","payload":{"summary":"%s","source":"db-1","severity":"%s"}}`
	for _, c := range []struct {
		body, wantErr string
	}{
		{`{"routing_key":"short","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info"}}`, "routing_key"},
		{strings.Replace(trigger, "trigger", "escalate", 1), "event_action"},
		{`{"routing_key":"` + key + `","event_action":"resolve"}`, "dedup_key"},
		{`{"routing_key":"` + key + `","event_action":"trigger"}`, "payload"},
		{strings.Replace(strings.Replace(trigger, "%s", strings.Repeat("x", 1025), 1), "%s", "info", 1), "payload.summary"},
		{strings.Replace(strings.Replace(trigger, "%s", "s", 1), "%s", "page", 1), "payload.severity"},
		{`{`, "Malformed JSON"},
	} {
		status, b := pdEvent(t, p, c.body)
		errs, _ := json.Marshal(b["errors"])
		if status != http.StatusBadRequest || b["status"] != "invalid event" || !strings.Contains(string(errs), c.wantErr) {
			t.Errorf("%s: %d %v; want 400 naming %s", c.body, status, b, c.wantErr)
		}
	}
	status, b := pdEvent(t, p, strings.Replace(strings.Replace(trigger, "%s", "ok", 1), "%s", "critical", 1))
	if status != http.StatusAccepted || b["status"] != "success" || b["dedup_key"] != "d1" || p.State("d1") != "triggered" {
		t.Errorf("valid trigger: %d %v, state %q", status, b, p.State("d1"))
	}
	p.Fail(Fault{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second})
	resp, _ := do(t, p, httptest.NewRequest(http.MethodPost, "/v2/enqueue", strings.NewReader(`{}`)))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("scripted 429: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if len(p.Events()) != 1 {
		t.Errorf("%d events recorded, want only the valid one", len(p.Events()))
	}
}

func slackCall(t *testing.T, s *Slack, method, contentType, auth, body string) map[string]any {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/"+method, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, b := do(t, s, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", method, resp.StatusCode)
	}
	return b
}

// The Slack fake answers as the Web API documents: token as a bearer
// header (or form argument), ok/error bodies, ts for edits.
func TestSlackWebAPI(t *testing.T) {
	s := NewSlack("xoxb-good")
	form := url.Values{"channel": {"#ops"}, "text": {"hello"}}.Encode()
	const ctForm, ctJSON = "application/x-www-form-urlencoded", "application/json; charset=utf-8"
	for _, c := range []struct {
		ct, auth, body, want string
	}{
		{ctForm, "", form, "not_authed"},
		{ctForm, "xoxb-bad", form, "invalid_auth"},
		{ctJSON, "", `{"token":"xoxb-good","channel":"#ops","text":"hi"}`, "not_authed"},
		{ctJSON, "xoxb-good", `{"channel":"#ops"}`, "no_text"},
		{ctJSON, "xoxb-good", `{"text":"hi"}`, "channel_not_found"},
		{ctJSON, "xoxb-good", `{"channel":"#ops","blocks":"nope"}`, "invalid_blocks"},
	} {
		if b := slackCall(t, s, "chat.postMessage", c.ct, c.auth, c.body); b["ok"] != false || b["error"] != c.want {
			t.Errorf("%s %q: %v, want error %s", c.ct, c.body, b, c.want)
		}
	}
	posted := slackCall(t, s, "chat.postMessage", ctJSON, "xoxb-good", `{"channel":"#ops","text":"v1"}`)
	if posted["ok"] != true || posted["ts"] == "" || posted["channel"] == "" {
		t.Fatalf("post: %v", posted)
	}
	upd := url.Values{"channel": {posted["channel"].(string)}, "ts": {posted["ts"].(string)}, "text": {"v2"}, "token": {"xoxb-good"}}
	if b := slackCall(t, s, "chat.update", ctForm, "", upd.Encode()); b["ok"] != true || b["ts"] != posted["ts"] {
		t.Errorf("update: %v", b)
	}
	upd.Set("ts", "1.1")
	if b := slackCall(t, s, "chat.update", ctForm, "", upd.Encode()); b["error"] != "message_not_found" {
		t.Errorf("update of an unknown ts: %v", b)
	}
	if m := s.Messages(); len(m) != 1 || len(m[0].Versions) != 2 || m[0].Versions[1].Text != "v2" {
		t.Errorf("messages = %+v", m)
	}
	s.Fail(Fault{Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second})
	req := httptest.NewRequest(http.MethodPost, "/api/chat.postMessage", strings.NewReader(form))
	resp, b := do(t, s, req)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" || b["error"] != "ratelimited" {
		t.Errorf("scripted 429: %d %v, Retry-After %q", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
}
