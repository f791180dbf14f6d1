package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/router"
)

func silencesFixture() *fakeAlertmanager {
	am := alertsFixture()
	must := func(t labels.MatchType, n, v string) *labels.Matcher {
		m, err := labels.NewMatcher(t, n, v)
		if err != nil {
			panic(err)
		}
		return m
	}
	eq := func(n, v string) *labels.Matcher { return must(labels.MatchEqual, n, v) }
	am.silences = []*router.Silence{
		{ID: "11111111-1111-1111-1111-111111111111", Matchers: labels.Matchers{eq("instance", "web-1")},
			StartsAt: uiNow.Add(-time.Hour), EndsAt: uiNow.Add(time.Hour), CreatedBy: "alice", Comment: `deploy <b>web</b>`},
		{ID: "22222222-2222-2222-2222-222222222222", Matchers: labels.Matchers{eq("alertname", "Replication")},
			StartsAt: uiNow.Add(time.Hour), EndsAt: uiNow.Add(2 * time.Hour), CreatedBy: "bob", Comment: "maintenance"},
		{ID: "33333333-3333-3333-3333-333333333333", Matchers: labels.Matchers{must(labels.MatchRegexp, "instance", "db-.*")},
			StartsAt: uiNow.Add(-3 * time.Hour), EndsAt: uiNow.Add(-2 * time.Hour), CreatedBy: "carol", Comment: "old"},
	}
	return am
}

// section returns the part of a page from the heading of a state's section
// to the next one.
func section(body, state string) string {
	i := strings.Index(body, `id="silences-`+state+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i+1:]
	if j := strings.Index(rest, `<section class="silence-section"`); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestUISilencesListByState(t *testing.T) {
	s := uiTestServer(t, silencesFixture())
	status, body := uiGet(t, s, "/silences")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for state, id := range map[string]string{"active": "11111111", "pending": "22222222", "expired": "33333333"} {
		sec := section(body, state)
		if !strings.Contains(sec, `data-silence-id="`+id) {
			t.Errorf("section %s lacks silence %s:\n%s", state, id, sec)
		}
	}
	if !strings.Contains(body, "deploy &lt;b&gt;web&lt;/b&gt;") {
		t.Error("comment not shown escaped")
	}
	if !strings.Contains(body, `data-test="new-silence"`) {
		t.Error("a responder sees no New silence button")
	}
	_, body = uiGetAs(t, s, auth.RoleViewer, "/silences")
	if strings.Contains(body, `data-test="new-silence"`) {
		t.Error("a viewer is offered New silence")
	}
}

func TestUISilenceEditorPrefilledFromFilter(t *testing.T) {
	s := uiTestServer(t, silencesFixture())
	status, body := uiGet(t, s, "/silences/new?filter="+url.QueryEscape(`{alertname="DiskFull",instance=~"db-.*"}`))
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`name="name" value="alertname"`, `name="value" value="DiskFull"`,
		`name="name" value="instance"`, `name="value" value="db-.*"`,
		`<option value="=~" selected>`,
		`id="createdBy" name="createdBy" value="alice"`,
		// The preview is there before any script runs.
		`<b>1</b> alert would be silenced`, `db-1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("editor lacks %q", want)
		}
	}
}

func TestUISilenceEditExisting(t *testing.T) {
	s := uiTestServer(t, silencesFixture())
	_, body := uiGet(t, s, "/silences/11111111-1111-1111-1111-111111111111/edit")
	for _, want := range []string{`data-id="11111111-1111-1111-1111-111111111111"`, `value="web-1"`, `value="2h"`, "deploy &lt;b&gt;web&lt;/b&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("editor lacks %q", want)
		}
	}
	// An expired silence is recreated as a new one, not edited.
	_, body = uiGet(t, s, "/silences/33333333-3333-3333-3333-333333333333/edit")
	if !strings.Contains(body, `data-id=""`) {
		t.Error("editing an expired silence keeps its id")
	}
	if status, _ := uiGet(t, s, "/silences/nope/edit"); status != http.StatusNotFound {
		t.Errorf("unknown silence: status %d, want 404", status)
	}
}

func TestUISilencePreview(t *testing.T) {
	s := uiTestServer(t, silencesFixture())
	preview := func(triples ...string) (int, string) {
		q := url.Values{}
		for i := 0; i+2 < len(triples); i += 3 {
			q.Add("n", triples[i])
			q.Add("o", triples[i+1])
			q.Add("v", triples[i+2])
		}
		return uiGet(t, s, "/silences/preview?"+q.Encode())
	}
	status, body := preview("alertname", "=", "DiskFull", "severity", "!=", "critical")
	if status != http.StatusOK || !strings.Contains(body, "<b>1</b> alert would be silenced") || !strings.Contains(body, "web-1") || strings.Contains(body, "db-1") {
		t.Fatalf("preview: %d\n%s", status, body)
	}
	status, body = preview("instance", "=~", "db-[")
	if status != http.StatusBadRequest || !strings.Contains(body, "matcher 1") {
		t.Fatalf("bad regexp: %d\n%s", status, body)
	}
	_, body = preview("", "=", "")
	if !strings.Contains(body, "Add a matcher") {
		t.Fatalf("no matcher: %s", body)
	}
}

func TestUISilenceDetail(t *testing.T) {
	s := uiTestServer(t, silencesFixture())
	_, body := uiGet(t, s, "/silences/11111111-1111-1111-1111-111111111111")
	for _, want := range []string{`instance=&#34;web-1&#34;`, `data-api="DELETE /api/v2/silence/11111111-1111-1111-1111-111111111111"`, `data-confirm=`, "web-1"} {
		if !strings.Contains(body, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	_, body = uiGetAs(t, s, auth.RoleViewer, "/silences/11111111-1111-1111-1111-111111111111")
	if strings.Contains(body, `data-test="expire"`) {
		t.Error("a viewer is offered Expire")
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 26 * time.Hour: "1d2h", 30 * time.Second: "1m"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
