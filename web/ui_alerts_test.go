package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/router"
)

// uiNow is the pages' clock in these tests.
var uiNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fakeAlertmanager is the router's state as the UI reads it, in memory.
type fakeAlertmanager struct {
	groups   []router.GroupView
	silences []*router.Silence
	set      []*router.Silence
}

func (f *fakeAlertmanager) Alerts() []router.AlertView {
	var out []router.AlertView
	for _, g := range f.groups {
		out = append(out, g.Alerts...)
	}
	return out
}
func (f *fakeAlertmanager) Groups() []router.GroupView { return f.groups }
func (f *fakeAlertmanager) Silences(context.Context) ([]*router.Silence, error) {
	return f.silences, nil
}
func (f *fakeAlertmanager) GetSilence(_ context.Context, id string) (*router.Silence, error) {
	for _, s := range f.silences {
		if s.ID == id {
			return s, nil
		}
	}
	return nil, router.ErrSilenceNotFound
}
func (f *fakeAlertmanager) SetSilence(_ context.Context, s *router.Silence) (string, error) {
	f.set = append(f.set, s)
	return "new-id", nil
}
func (f *fakeAlertmanager) ExpireSilence(context.Context, string) error { return nil }

// view is an alert as the router shows it; state "" is active.
func view(receiver, state string, ls, annotations model.LabelSet) router.AlertView {
	st := alert.AlertStatus{State: alert.AlertStateActive}
	switch state {
	case "silenced":
		st = alert.AlertStatus{State: alert.AlertStateSuppressed, SilencedBy: []string{"s-1"}}
	case "inhibited":
		st = alert.AlertStatus{State: alert.AlertStateSuppressed, InhibitedBy: []string{"fp"}}
	}
	return router.AlertView{
		Alert: &alert.Alert{Alert: model.Alert{
			Labels: ls, Annotations: annotations, StartsAt: uiNow.Add(-10 * time.Minute),
			GeneratorURL: "http://prometheus.example/graph?g0.expr=up",
		}},
		Status:    st,
		Receivers: []string{receiver},
	}
}

// uiTestServer is a server with the fake state and two receivers.
func uiTestServer(t *testing.T, am *fakeAlertmanager) *Server {
	t.Helper()
	cfg := &amconfig.Config{Receivers: []amconfig.Receiver{{Name: "team"}, {Name: "db"}}}
	return New(Options{
		Alertmanager:       am,
		AlertmanagerConfig: func() *amconfig.Config { return cfg },
		Now:                func() time.Time { return uiNow },
	})
}

// uiGet renders a page for a responder and returns its status and body.
func uiGet(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	return uiGetAs(t, s, auth.RoleResponder, path)
}

// uiGetAs renders a page for a user with the role. The pages are served
// as the server routes them, behind a stand-in for access control that
// only says who is looking (web/auth.go has its own tests).
func uiGetAs(t *testing.T, s *Server, role auth.Role, path string) (int, string) {
	t.Helper()
	p := &auth.Principal{Name: "alice", Role: role, Scopes: auth.RoleScopes(role), Method: auth.MethodSession, CSRFToken: "csrf"}
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
		})
	})
	s.uiRoutes(r)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func alertsFixture() *fakeAlertmanager {
	return &fakeAlertmanager{groups: []router.GroupView{
		{Receiver: "team", Labels: model.LabelSet{"alertname": "DiskFull"}, Alerts: []router.AlertView{
			view("team", "", model.LabelSet{"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
				model.LabelSet{"summary": "disk is full", "runbook_url": "https://runbooks.example/disk"}),
			view("team", "silenced", model.LabelSet{"alertname": "DiskFull", "instance": "web-1", "severity": "warning"}, nil),
		}},
		{Receiver: "db", Labels: model.LabelSet{"alertname": "Replication"}, Alerts: []router.AlertView{
			view("db", "inhibited", model.LabelSet{"alertname": "Replication", "instance": "db-2"}, nil),
			view("db", "", model.LabelSet{"alertname": "Replication", "instance": "db-3"}, nil),
		}},
	}}
}

func TestUIAlertsGroupsAndDefaultState(t *testing.T) {
	s := uiTestServer(t, alertsFixture())
	status, body := uiGet(t, s, "/alerts")
	if status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, body)
	}
	for _, want := range []string{
		`<b class="receiver">team</b>`, `<b class="receiver">db</b>`,
		`db-1`, `db-3`, `disk is full`,
		`href="https://runbooks.example/disk"`, `>Runbook</a>`, `>Source</a>`,
		"2 alerts in 2 groups", "1 silenced hidden", "1 inhibited hidden",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Muted alerts are hidden unless asked for, as in Alertmanager's UI.
	for _, hidden := range []string{"web-1", "db-2"} {
		if strings.Contains(body, hidden) {
			t.Errorf("page shows muted alert %s by default", hidden)
		}
	}
	// One click silences an alert or a group: the editor gets the labels
	// as equality matchers.
	wantAlert := `/silences/new?filter=` + url.QueryEscape(`{alertname="DiskFull",instance="db-1",severity="critical"}`)
	wantGroup := `/silences/new?filter=` + url.QueryEscape(`{alertname="DiskFull"}`)
	// html/template writes percent-escapes in lower case.
	for _, want := range []string{wantAlert, wantGroup} {
		if !strings.Contains(strings.ToLower(body), strings.ToLower(want)) {
			t.Errorf("page lacks link %s", want)
		}
	}
}

func TestUIAlertsFilters(t *testing.T) {
	s := uiTestServer(t, alertsFixture())
	cases := []struct {
		query        string
		want, reject []string
	}{
		{"filter=" + url.QueryEscape(`{instance=~"db.*"}`), []string{"db-1", "db-3"}, []string{"web-1", "db-2"}},
		{"filter=" + url.QueryEscape(`severity="critical"`), []string{"db-1"}, []string{"db-3"}},
		{"state=silenced", []string{"web-1"}, []string{"db-1", "db-2", "db-3"}},
		{"state=active&state=silenced&state=inhibited", []string{"db-1", "web-1", "db-2", "db-3"}, nil},
		{"receiver=db&state=active&state=inhibited", []string{"db-2", "db-3"}, []string{"db-1"}},
	}
	for _, c := range cases {
		status, body := uiGet(t, s, "/alerts?"+c.query)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", c.query, status)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: lacks %s", c.query, w)
			}
		}
		for _, r := range c.reject {
			if strings.Contains(body, `="`+r+`"`) {
				t.Errorf("%s: shows %s", c.query, r)
			}
		}
	}
}

func TestUIAlertsBadFilterSaysWhy(t *testing.T) {
	s := uiTestServer(t, alertsFixture())
	status, body := uiGet(t, s, "/alerts?filter="+url.QueryEscape(`{instance=~"db`))
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", status)
	}
	if !strings.Contains(body, `id="filter-error"`) || !strings.Contains(body, "bad filter") {
		t.Fatalf("no error message:\n%s", body)
	}
}

// Alert text is untrusted: it is shown escaped, and only http(s) links
// become links.
func TestUIAlertsEscapeUntrustedText(t *testing.T) {
	am := &fakeAlertmanager{groups: []router.GroupView{{Receiver: "team", Labels: model.LabelSet{"alertname": "X"}, Alerts: []router.AlertView{
		view("team", "", model.LabelSet{"alertname": "X", "evil": `"><script>alert(1)</script>`}, model.LabelSet{
			"summary":       `<img src=x onerror="window.__xss=1">`,
			"runbook_url":   `javascript:window.__xss=1`,
			"dashboard_url": `data:text/html,<script>alert(1)</script>`,
		}),
	}}}}
	s := uiTestServer(t, am)
	_, body := uiGet(t, s, "/alerts")
	for _, bad := range []string{"<script>alert(1)", "<img src=x", `href="javascript:`, `href="data:`} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{"&lt;img src=x onerror=", "&lt;script&gt;alert(1)&lt;/script&gt;", `class="link-blocked" data-link="Runbook"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestUIAlertsLiveFragment(t *testing.T) {
	s := uiTestServer(t, alertsFixture())
	_, body := uiGet(t, s, "/alerts?fragment=live")
	if strings.Contains(body, "<html") || !strings.Contains(body, "db-1") {
		t.Fatalf("fragment is not the live region:\n%s", body)
	}
}

// Under --web.route-prefix every link of the page keeps the prefix.
func TestUIAlertsUnderRoutePrefix(t *testing.T) {
	cfg := &amconfig.Config{Receivers: []amconfig.Receiver{{Name: "team"}}}
	s := New(Options{
		Alertmanager: alertsFixture(), AlertmanagerConfig: func() *amconfig.Config { return cfg },
		Now: func() time.Time { return uiNow }, RoutePrefix: "/am/",
	})
	_, body := uiGet(t, s, "/alerts")
	for _, want := range []string{`action="/am/alerts"`, `href="/am/silences/new?filter=`, `src="/am/static/alerts.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
