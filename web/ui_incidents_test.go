package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// incidentUIConfig is the world of the incident, postmortem and on-call
// page tests: one receiver, two people on a weekly Berlin rotation
// (bob's week on 2026-11-25, alice's from Monday 30 November 09:00), and a
// policy paging the schedule.
const incidentUIConfig = `route:
  receiver: team
receivers:
  - name: team
    webhook_configs: [{url: "http://127.0.0.1:9/unused"}]
users:
  - name: alice
  - name: bob
schedules:
  - name: primary
    description: Checkout team
    time_zone: Europe/Berlin
    rotations:
      - {name: weekly, participants: [alice, bob], shift: weekly, start: 2026-11-02, handoff: "09:00"}
escalation_policies:
  - name: default
    repeat: 1
    steps:
      - {delay: 5m, targets: [{schedule: primary}]}
      - {delay: 10m, targets: [{user: alice}, {receiver: team}]}
`

// incidentUI is a web server on a real store with the real incident,
// on-call and auth services, one triggered incident whose alert carries
// hostile annotations, and a user per role.
type incidentUI struct {
	t    *testing.T
	srv  *httptest.Server
	inc  *incidents.Service
	oc   *oncall.Service
	auth *auth.Service
	clk  *clockwork.FakeClock
	id   int64
}

func newIncidentUI(t *testing.T, db *storage.DB) *incidentUI {
	t.Helper()
	ctx := context.Background()
	w := newIncidentWorld(t, db, incidentUIConfig, model.Alert{
		Labels: model.LabelSet{"alertname": "CheckoutDown", "severity": "critical", "service": "checkout"},
		Annotations: model.LabelSet{
			"summary":       `<script>window.pwned=1</script><img src=x onerror="window.pwned=1">`,
			"runbook_url":   "javascript:window.pwned=1",
			"dashboard_url": "https://grafana.example.com/d/checkout",
		},
		GeneratorURL: "http://prometheus.example.com/graph?g0.expr=up",
	})
	inc, oc, clk, reg := w.inc, w.oc, w.clk, w.reg
	au := auth.New(auth.Options{DB: db, Now: clk.Now, BcryptCost: 4})
	for _, role := range []auth.Role{"viewer", "responder", "admin"} {
		if _, err := au.AddUser(ctx, string(role), role, "password-of-"+string(role)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(New(Options{Incidents: inc, OnCall: oc, Gatherer: reg, Registerer: reg, Now: clk.Now,
		Access: Access{Auth: au}}))
	t.Cleanup(srv.Close)
	return &incidentUI{t: t, srv: srv, inc: inc, oc: oc, auth: au, clk: clk, id: w.id}
}

// uiUser is a logged-in browser session of one role.
type uiUser struct {
	w             *incidentUI
	session, csrf string
}

// as logs in as the user of role (viewer, responder, admin).
func (w *incidentUI) as(role string) *uiUser {
	w.t.Helper()
	se, err := w.auth.Login(context.Background(), role, "password-of-"+role, "127.0.0.1")
	if err != nil {
		w.t.Fatal(err)
	}
	return &uiUser{w: w, session: se.ID, csrf: se.CSRFToken}
}

// do sends a request with the session cookie and, unless it is a read,
// the CSRF token as the page's script sends it.
func (u *uiUser) do(method, path, body string) (int, string) {
	u.w.t.Helper()
	req, err := http.NewRequest(method, u.w.srv.URL+path, strings.NewReader(body))
	if err != nil {
		u.w.t.Fatal(err)
	}
	if u.session != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: u.session})
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		// A browser says where a request comes from.
		req.Header.Set("Origin", u.w.srv.URL)
		if u.csrf != "" {
			req.Header.Set(csrfHeader, u.csrf)
		}
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		u.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get reads a page and expects 200.
func (u *uiUser) get(path string) string {
	u.w.t.Helper()
	code, body := u.do(http.MethodGet, path, "")
	if code != http.StatusOK {
		u.w.t.Fatalf("GET %s: %d, want 200\n%s", path, code, body)
	}
	return body
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (w *incidentUI) path(suffix string) string {
	return "/incidents/" + strconv.FormatInt(w.id, 10) + suffix
}

func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(body, s) {
			t.Errorf("%s: no %q in\n%s", what, s, body)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, s := range unwanted {
		if strings.Contains(body, s) {
			t.Errorf("%s: %q should not be there in\n%s", what, s, body)
		}
	}
}

func TestUIIncidentsList(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		u := w.as("viewer")
		body := u.get("/incidents")
		mustContain(t, "list", body, `href="/incidents/`+strconv.FormatInt(w.id, 10)+`"`, "CheckoutDown", "state-triggered", "checkout", `id="live"`,
			`href="/incidents?assignee=viewer">assigned to me</a>`)

		// Filters: each narrows to what the API's filter selects.
		for query, shown := range map[string]bool{
			"?status=triggered":                     true,
			"?status=resolved":                      false,
			"?severity=critical&service=checkout":   true,
			"?severity=warning":                     false,
			"?assignee=alice":                       false,
			"?status=triggered&severity=critical":   true,
			"?status=acknowledged&service=checkout": false,
		} {
			body := u.get("/incidents" + query)
			if got := strings.Contains(body, `data-incident="`+strconv.FormatInt(w.id, 10)+`"`); got != shown {
				t.Errorf("%s: incident shown %v, want %v", query, got, shown)
			}
			if !shown {
				mustContain(t, query, body, "No incidents match this filter")
			}
		}
		if code, body := u.do(http.MethodGet, "/incidents?status=open", ""); code != http.StatusBadRequest || !strings.Contains(body, "status:") {
			t.Errorf("unknown state: %d, want 400 naming status\n%s", code, body)
		}

		// The live fragment is the list alone, and follows changes.
		if _, err := w.inc.SetAssignee(context.Background(), w.id, incidents.Actor{Name: "responder"}, "alice"); err != nil {
			t.Fatal(err)
		}
		frag := u.get("/incidents?assignee=alice&fragment=live")
		mustContain(t, "fragment", frag, `data-incident="`+strconv.FormatInt(w.id, 10)+`"`, "alice")
		mustNotContain(t, "fragment", frag, "<html", "<form")

		// Without a session, the page sends the browser to log in.
		anon := &uiUser{w: w}
		if code, _ := anon.do(http.MethodGet, "/incidents", ""); code != http.StatusSeeOther {
			t.Errorf("anonymous: %d, want 303 to the login page", code)
		}
	})
}

func TestUIIncidentsNewestFirst(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		ctx := context.Background()
		w.clk.Advance(time.Minute)
		a := alert.New(model.Alert{Labels: model.LabelSet{"alertname": "DiskFull"}, StartsAt: w.clk.Now()}, w.clk.Now(), false)
		err := db.InTx(ctx, func(tx *storage.Tx) error {
			_, err := w.inc.Flush(ctx, tx, &router.Notification{GroupID: "g2", GroupKey: `{}:{alertname="DiskFull"}`, Receiver: "team",
				GroupLabels: model.LabelSet{"alertname": "DiskFull"}, Alerts: []*alert.Alert{a}, Reason: router.ReasonFirst, At: w.clk.Now()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		body := w.as("viewer").get("/incidents")
		newer, older := strings.Index(body, "DiskFull"), strings.Index(body, "CheckoutDown")
		if newer < 0 || older < 0 || newer > older {
			t.Errorf("want DiskFull (newer) before CheckoutDown: positions %d, %d", newer, older)
		}
	})
}

func TestUIIncidentDetail(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		r := w.as("responder")
		body := r.get(w.path(""))
		mustContain(t, "responder's page", body,
			`data-test="ack"`, `data-test="resolve"`, `data-api="POST /api/v1/incidents/`+strconv.FormatInt(w.id, 10)+`/ack"`,
			`id="respond"`, `data-test="note-form"`, `data-test="assign-form"`, `data-test="severity-form"`, `data-test="link-form"`,
			`data-kind="opened"`, "severity", "checkout", "alertname", "1 of 1 alerts firing",
			// Links open elsewhere without an opener or referrer.
			`href="https://grafana.example.com/d/checkout" target="_blank" rel="noopener noreferrer"`,
			`href="http://prometheus.example.com/graph?g0.expr=up" target="_blank" rel="noopener noreferrer"`,
			"/static/incident.js")
		// Hostile annotations are text: no tag, no handler, no script URL.
		mustContain(t, "escaping", body, "&lt;script&gt;window.pwned=1&lt;/script&gt;",
			`<span class="link-blocked" title="not shown as a link: only http and https links are">javascript:window.pwned=1</span>`)
		mustNotContain(t, "escaping", body, "<script>window", "<img src=x", `href="javascript:`)

		// The live region is replaced in the page only when it changed: a
		// few seconds passing changes nothing in it.
		for _, path := range []string{w.path("?fragment=live"), "/incidents?fragment=live"} {
			before := r.get(path)
			w.clk.Advance(5 * time.Second)
			if after := r.get(path); after != before {
				t.Errorf("%s changed with nothing but time passing:\n%s\n---\n%s", path, before, after)
			}
		}

		// A viewer reads the same incident but is offered no action, and
		// the API refuses one anyway.
		v := w.as("viewer")
		vbody := v.get(w.path(""))
		mustContain(t, "viewer's page", vbody, `data-kind="opened"`, "CheckoutDown")
		mustNotContain(t, "viewer's page", vbody, `data-test="ack"`, `data-test="resolve"`, `id="respond"`, `data-api=`)
		if code, b := v.do(http.MethodPost, "/api/v1/incidents/"+strconv.FormatInt(w.id, 10)+"/ack", `{"via":"ui"}`); code != http.StatusForbidden {
			t.Errorf("viewer's ack: %d %s, want 403", code, b)
		}
		// A responder's request without the CSRF token is refused.
		forged := &uiUser{w: w, session: r.session}
		if code, b := forged.do(http.MethodPost, "/api/v1/incidents/"+strconv.FormatInt(w.id, 10)+"/ack", `{"via":"ui"}`); code != http.StatusForbidden {
			t.Errorf("ack without CSRF token: %d %s, want 403", code, b)
		}

		// The page's ack (what its form sends), then the live region
		// shows who acknowledged, how, and the timeline entry.
		if code, b := r.do(http.MethodPost, "/api/v1/incidents/"+strconv.FormatInt(w.id, 10)+"/ack", `{"via":"ui","by":"responder"}`); code != http.StatusOK {
			t.Fatalf("ack: %d %s", code, b)
		}
		frag := r.get(w.path("?fragment=live"))
		mustContain(t, "after ack", frag, `data-state="acknowledged"`, "Acknowledged by <b>responder</b> via ui", `data-kind="acknowledged"`, `data-test="unack"`)
		mustNotContain(t, "after ack", frag, `data-test="ack"`, "<html")

		// An un-ack from elsewhere (the CLI) shows the same way.
		if _, err := w.inc.Unack(context.Background(), w.id, incidents.Actor{Name: "bob", Via: "cli"}); err != nil {
			t.Fatal(err)
		}
		frag = r.get(w.path("?fragment=live"))
		mustContain(t, "after un-ack", frag, `data-state="triggered"`, `data-kind="unacknowledged"`, "by bob via cli", `data-test="ack"`)

		// Notes are text.
		if code, b := r.do(http.MethodPost, "/api/v1/incidents/"+strconv.FormatInt(w.id, 10)+"/notes", `{"text":"<b>bold</b> claim","by":"responder"}`); code != http.StatusOK {
			t.Fatalf("note: %d %s", code, b)
		}
		frag = r.get(w.path("?fragment=live"))
		mustContain(t, "note", frag, "&lt;b&gt;bold&lt;/b&gt; claim")

		// Resolved: no more actions but the record.
		if _, err := w.inc.Resolve(context.Background(), w.id, incidents.Actor{Name: "alice", Via: "slack"}); err != nil {
			t.Fatal(err)
		}
		frag = r.get(w.path("?fragment=live"))
		mustContain(t, "resolved", frag, "Resolved by <b>alice</b> via slack", `data-kind="resolved"`)
		mustNotContain(t, "resolved", frag, `data-test="ack"`, `data-test="unack"`, `data-test="resolve"`)

		for path, want := range map[string]int{"/incidents/987654": http.StatusNotFound, "/incidents/x": http.StatusBadRequest, "/incidents/0": http.StatusBadRequest} {
			if code, _ := r.do(http.MethodGet, path, ""); code != want {
				t.Errorf("GET %s: %d, want %d", path, code, want)
			}
		}
	})
}

func TestUIIncidentTimelineInOrder(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		ctx := context.Background()
		steps := []func() error{
			func() error { _, err := w.inc.Ack(ctx, w.id, incidents.Actor{Name: "a", Via: "api"}); return err },
			func() error { _, err := w.inc.AddNote(ctx, w.id, incidents.Actor{Name: "a"}, "looking"); return err },
			func() error {
				_, err := w.inc.SetSeverity(ctx, w.id, incidents.Actor{Name: "a"}, "warning")
				return err
			},
			func() error {
				_, err := w.inc.AddLink(ctx, w.id, incidents.Actor{Name: "a"}, incidents.Link{Kind: "trace", URL: "https://tempo.example.com/t/1"})
				return err
			},
		}
		for _, step := range steps {
			w.clk.Advance(time.Second)
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		body := w.as("viewer").get(w.path(""))
		kinds := regexp.MustCompile(`data-kind="([a-z_]+)"`).FindAllStringSubmatch(body, -1)
		var got []string
		for _, k := range kinds {
			got = append(got, k[1])
		}
		want := []string{"opened", "alert_firing", "notification_queued", "acknowledged", "note", "severity_changed", "link_added"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("timeline kinds %v, want %v", got, want)
		}
		mustContain(t, "link", body, `href="https://tempo.example.com/t/1" target="_blank" rel="noopener noreferrer"`, "state-warning")
	})
}

// Edits made from the pages go through the JSON API with the session; the
// timeline says they came through the UI and who made them, whatever the
// body claims.
func TestUIEditsRecordedAsUI(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		r := w.as("responder")
		if code, body := r.do(http.MethodPost, "/api/v1"+w.path("/notes"), `{"text":"rolled back","by":"mallory"}`); code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("note: %d %s", code, body)
		}
		tl, err := w.inc.Timeline(context.Background(), w.id)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, e := range tl {
			if e.Kind == "note" {
				found = true
				if e.Actor.Name != "responder" || e.Actor.Via != "ui" {
					t.Errorf("note recorded as %+v, want responder via ui", e.Actor)
				}
			}
		}
		if !found {
			t.Fatalf("no note on the timeline: %+v", tl)
		}
	})
}
