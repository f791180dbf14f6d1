package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// calendarText is the calendar of a page as "date: entries" lines.
func calendarText(body string) []string {
	var out []string
	day := regexp.MustCompile(`(?s)<li class="day[^"]*">\s*<div class="date">([^<]+)</div>(.*?)</li>`)
	entry := regexp.MustCompile(`<b>([^<]+)</b> <span class="muted">([^<]+)</span>`)
	for _, d := range day.FindAllStringSubmatch(body, -1) {
		var es []string
		for _, e := range entry.FindAllStringSubmatch(d[2], -1) {
			es = append(es, e[1]+" "+e[2])
		}
		out = append(out, d[1]+": "+strings.Join(es, ", "))
	}
	return out
}

func TestUIOnCall(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		// Alice takes Thursday afternoon of bob's week.
		_, err := w.oc.AddOverride(context.Background(), oncall.Override{Schedule: "primary", Add: "alice", Remove: "bob", Note: "swap",
			Start: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		v := w.as("viewer")
		body := v.get("/oncall")
		now := body[strings.Index(body, `data-test="oncall-now"`):strings.Index(body, `data-test="oncall-next"`)]
		mustContain(t, "now", now, `<b class="person">bob</b>`, "since Mon 23 Nov 09:00", "until Thu 26 Nov 13:00")
		next := body[strings.Index(body, `data-test="oncall-next"`):]
		mustContain(t, "next", next, "hand-off Thu 26 Nov 13:00 CET (in 26h00m)", "<b class=\"person\">alice</b>")
		mustContain(t, "page", body, "time zone Europe/Berlin", "Checkout team",
			"<b>alice</b> replaces <b>bob</b>", "swap",
			// The policy's steps.
			`data-policy="default"`, "steps run 2 times", "whoever is on call for <b>primary</b>",
			"user <b>alice</b>, receiver <b>team</b>", "wait 10m")

		cal := calendarText(body)
		if len(cal) != onCallCalendarDays {
			t.Fatalf("calendar has %d days, want %d: %q", len(cal), onCallCalendarDays, cal)
		}
		for i, want := range map[int]string{
			0:  "Wed 25 Nov: bob 00:00–24:00",
			1:  "Thu 26 Nov: bob 00:00–13:00, alice 13:00–19:00, bob 19:00–24:00",
			5:  "Mon 30 Nov: bob 00:00–09:00, alice 09:00–24:00",
			12: "Mon 7 Dec: alice 00:00–09:00, bob 09:00–24:00",
			13: "Tue 8 Dec: bob 00:00–24:00",
		} {
			if cal[i] != want {
				t.Errorf("calendar day %d: %q, want %q", i, cal[i], want)
			}
		}
		if !strings.Contains(body, `<li class="day today">`) {
			t.Error("today is not marked")
		}

		// Viewers see overrides; responders can add and remove them.
		mustNotContain(t, "viewer", body, `data-test="override-form"`, `data-test="remove-override"`)
		rbody := w.as("responder").get("/oncall")
		mustContain(t, "responder", rbody, `data-test="override-form"`, `data-api="POST /api/v1/schedules/primary/overrides"`,
			`data-api="DELETE /api/v1/schedules/primary/overrides/`, "/static/oncall.js")

		// The live fragment is the schedules alone.
		frag := v.get("/oncall?fragment=live")
		mustContain(t, "fragment", frag, `data-schedule="primary"`)
		mustNotContain(t, "fragment", frag, "<html")
	})
}

func TestUIOnCallWithoutOnCall(t *testing.T) {
	s := New(Options{})
	rec := httptest.NewRecorder()
	s.uiOnCall(rec, httptest.NewRequest(http.MethodGet, "/oncall", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "not enabled") {
		t.Errorf("%d %s", rec.Code, rec.Body.String())
	}
}

func TestCalendarAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Sunday 29 March 2026 has 23 hours in Berlin.
	from := time.Date(2026, 3, 28, 0, 0, 0, 0, berlin)
	shifts := []oncall.Shift{
		// a follows themselves at 09:00: one stretch on the calendar.
		{User: "a", Start: time.Date(2026, 3, 27, 9, 0, 0, 0, berlin), End: time.Date(2026, 3, 28, 9, 0, 0, 0, berlin)},
		{User: "a", Start: time.Date(2026, 3, 28, 9, 0, 0, 0, berlin), End: time.Date(2026, 3, 28, 20, 0, 0, 0, berlin)},
		{User: "a", Start: time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), End: time.Date(2026, 3, 30, 0, 0, 0, 0, berlin)},
		{User: "b", Start: time.Date(2026, 3, 30, 0, 0, 0, 0, berlin), End: time.Date(2026, 3, 30, 9, 0, 0, 0, berlin), OverrideID: 7},
	}
	days := calendar(shifts, from, 3, berlin, time.Date(2026, 3, 29, 12, 0, 0, 0, berlin))
	var got []string
	for _, d := range days {
		line := d.Date.Format("Mon 2 Jan 15:04 MST") + ":"
		for _, e := range d.Entries {
			line += " " + e.User + " " + e.From + "-" + e.To
			if e.Override {
				line += " (override)"
			}
		}
		if d.Today {
			line += " today"
		}
		got = append(got, line)
	}
	want := []string{
		"Sat 28 Mar 00:00 CET: a 00:00-20:00",
		"Sun 29 Mar 00:00 CET: a 00:00-24:00 today",
		"Mon 30 Mar 00:00 CEST: b 00:00-09:00 (override)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calendar:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
