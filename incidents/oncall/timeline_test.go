package oncall

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"
)

// A week of alice then bob, handing off on Mondays 09:00 UTC.
func weekPlan(t *testing.T) *plan {
	r := rotation("weekly", "2026-01-05", "09:00", "alice", "bob")
	r.Name = "primary"
	return mustPlan(t, Schedule{Name: "ops", TimeZone: "UTC", Rotations: []Rotation{r}})
}

func users(who []assignment) string {
	var names []string
	for _, a := range who {
		names = append(names, a.user)
	}
	return strings.Join(names, ",")
}

func TestOverrides(t *testing.T) {
	p := weekPlan(t)
	ovs := []Override{
		{ID: 1, Start: utc("2026-01-06T18:00:00Z"), End: utc("2026-01-07T09:00:00Z"), Add: "carol", Remove: "alice"}, // replace
		{ID: 2, Start: utc("2026-01-08T00:00:00Z"), End: utc("2026-01-09T00:00:00Z"), Add: "dave"},                   // add
		{ID: 3, Start: utc("2026-01-10T00:00:00Z"), End: utc("2026-01-11T00:00:00Z"), Remove: "alice"},               // remove
		{ID: 4, Start: utc("2026-01-13T00:00:00Z"), End: utc("2026-01-14T00:00:00Z"), Add: "erin", Remove: "alice"},  // alice is not on call then
	}
	cases := []struct{ at, want string }{
		{"2026-01-06T17:59:59Z", "alice"},
		{"2026-01-06T18:00:00Z", "carol"}, // replace starts exactly at its start
		{"2026-01-07T08:59:59Z", "carol"},
		{"2026-01-07T09:00:00Z", "alice"}, // and ends exactly at its end
		{"2026-01-08T12:00:00Z", "alice,dave"},
		{"2026-01-10T12:00:00Z", ""},
		{"2026-01-13T12:00:00Z", "bob"}, // replacing someone who is not on call changes nothing
	}
	for _, c := range cases {
		if got := users(p.at(utc(c.at), ovs)); got != c.want {
			t.Errorf("at %s: %q, want %q", c.at, got, c.want)
		}
	}

	res := p.onCall(utc("2026-01-06T20:00:00Z"), ovs)
	want := Shift{Schedule: "ops", User: "carol", Start: utc("2026-01-06T18:00:00Z"), End: utc("2026-01-07T09:00:00Z"), OverrideID: 1}
	if len(res.OnCall) != 1 || res.OnCall[0] != want {
		t.Fatalf("on call %+v, want %+v", res.OnCall, want)
	}
	if res.NextChange == nil || !res.NextChange.Equal(want.End) {
		t.Fatalf("next change %v, want %s", res.NextChange, want.End)
	}
	// alice's shift after the override runs until the next override starts.
	next := Shift{Schedule: "ops", User: "alice", Start: utc("2026-01-07T09:00:00Z"), End: utc("2026-01-10T00:00:00Z"), Rotation: "primary"}
	if len(res.Next) != 1 || res.Next[0] != next {
		t.Fatalf("next %+v, want %+v", res.Next, next)
	}
}

func TestOverlappingOverridesOfOnePersonAreRejected(t *testing.T) {
	existing := []Override{{ID: 7, Start: utc("2026-01-06T00:00:00Z"), End: utc("2026-01-07T00:00:00Z"), Add: "carol", Remove: "alice"}}
	clash := Override{Start: utc("2026-01-06T12:00:00Z"), End: utc("2026-01-08T00:00:00Z"), Remove: "alice"}
	if err := overlap(&clash, existing); err == nil || !strings.Contains(err.Error(), "override 7") || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("overlap error = %v, want one naming override 7 and alice", err)
	}
	touching := Override{Start: utc("2026-01-07T00:00:00Z"), End: utc("2026-01-08T00:00:00Z"), Remove: "alice"}
	if err := overlap(&touching, existing); err != nil {
		t.Fatalf("back-to-back windows: %v", err)
	}
	other := Override{Start: utc("2026-01-06T12:00:00Z"), End: utc("2026-01-08T00:00:00Z"), Add: "dave"}
	if err := overlap(&other, existing); err != nil {
		t.Fatalf("overlap of different people: %v", err)
	}
	inverted := Override{Schedule: "ops", Start: utc("2026-01-08T00:00:00Z"), End: utc("2026-01-07T00:00:00Z"), Add: "dave"}
	err := validateOverride(&inverted, map[string]bool{"dave": true})
	if ve, ok := err.(*ValidationError); !ok || ve.Field != "end" {
		t.Fatalf("inverted window: %v, want an error on end", err)
	}
}

// parseICal unfolds a calendar and returns its events' properties, failing
// on lines that break RFC 5545's framing.
func parseICal(t *testing.T, data []byte) (cal map[string]string, events []map[string]string) {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		t.Fatal("calendar does not end with CRLF")
	}
	var logical []string
	for _, phys := range strings.SplitAfter(string(data), "\r\n") {
		if phys == "" {
			continue
		}
		if !strings.HasSuffix(phys, "\r\n") || strings.Count(phys, "\n") != 1 || strings.Contains(strings.TrimSuffix(phys, "\r\n"), "\r") {
			t.Fatalf("line %q does not end in a lone CRLF", phys)
		}
		if n := len(phys) - 2; n > 75 {
			t.Fatalf("line of %d octets, over 75: %q", n, phys)
		}
		phys = strings.TrimSuffix(phys, "\r\n")
		if strings.HasPrefix(phys, " ") {
			logical[len(logical)-1] += phys[1:]
			continue
		}
		logical = append(logical, phys)
	}
	cal = map[string]string{}
	var cur map[string]string
	for _, l := range logical {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("content line without a colon: %q", l)
		}
		switch {
		case name == "BEGIN" && value == "VEVENT":
			cur = map[string]string{}
		case name == "END" && value == "VEVENT":
			events = append(events, cur)
			cur = nil
		case cur != nil:
			cur[name] = value
		default:
			cal[name+":"+value] = value
		}
	}
	return cal, events
}

func TestICal(t *testing.T) {
	long := "a-schedule-with-a-name-long-enough-to-need-folding.of.content.lines-ü-ü-ü-ü-ü"
	list := []Shift{
		{Schedule: "ops", User: "alice", Start: utc("2026-03-28T08:00:00Z"), End: utc("2026-03-29T07:00:00Z"), Rotation: "primary"},
		{Schedule: long, User: "alice", Start: utc("2026-03-30T07:00:00Z"), End: utc("2026-03-31T07:00:00Z"), OverrideID: 12},
	}
	var buf bytes.Buffer
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := WriteICal(&buf, "alice", list, now); err != nil {
		t.Fatal(err)
	}
	cal, events := parseICal(t, buf.Bytes())
	for _, want := range []string{"BEGIN:VCALENDAR", "VERSION:2.0", "END:VCALENDAR"} {
		if _, ok := cal[want]; !ok {
			t.Errorf("calendar lacks %s", want)
		}
	}
	if _, ok := cal["PRODID:-//Klaxon//On-call shifts//EN"]; !ok {
		t.Error("calendar lacks PRODID")
	}
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	e := events[0]
	if e["DTSTART"] != "20260328T080000Z" || e["DTEND"] != "20260329T070000Z" || e["DTSTAMP"] != "20260301T120000Z" {
		t.Errorf("event times %v", e)
	}
	if e["SUMMARY"] != "On call: ops" || e["UID"] == "" || e["UID"] == events[1]["UID"] {
		t.Errorf("event summary/uid %v", e)
	}
	if got := events[1]["SUMMARY"]; got != "On call: "+long {
		t.Errorf("folded summary came back as %q", got)
	}
	if !strings.Contains(events[1]["DESCRIPTION"], "override 12") {
		t.Errorf("description %q does not say which override", events[1]["DESCRIPTION"])
	}
}

func TestICalEscapesAndFoldsOnRuneBoundaries(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeFolded(w, "SUMMARY:"+strings.Repeat("€", 60))
	w.Flush()
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\r\n"), "\r\n") {
		if !strings.HasPrefix(l, "SUMMARY:") && !strings.HasPrefix(l, " €") {
			t.Fatalf("fold split a character: %q", l)
		}
	}
	if got := escapeText("a,b;c\\d\ne"); got != `a\,b\;c\\d\ne` {
		t.Fatalf("escapeText = %q", got)
	}
}
