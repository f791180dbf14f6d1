package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

const onCallConfig = `route:
  receiver: team
receivers:
  - name: team
users:
  - name: alice
  - name: bob
schedules:
  - name: primary
    time_zone: Europe/Berlin
    rotations:
      - name: weekly
        participants: [alice, bob]
        shift: weekly
        start: 2026-03-23
        handoff: "09:00"
`

type onCallAPI struct {
	t   *testing.T
	srv *httptest.Server
	svc *oncall.Service
}

func newOnCallAPI(t *testing.T, db *storage.DB) *onCallAPI {
	t.Helper()
	cfg, err := config.Load([]byte(onCallConfig), ".")
	if err != nil {
		t.Fatal(err)
	}
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC))
	svc := oncall.New(oncall.Options{DB: db, Clock: clk})
	if err := svc.ApplyConfig(context.Background(), &cfg.OnCall); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(asAdmin(t, Options{OnCall: svc, Gatherer: reg, Registerer: reg, Now: clk.Now}))
	t.Cleanup(srv.Close)
	return &onCallAPI{t: t, srv: srv, svc: svc}
}

// call sends body (JSON unless a string) and returns the status and the
// answer's text.
func (a *onCallAPI) call(method, path string, body any) (int, string) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (a *onCallAPI) expect(method, path string, body any, status int, contains ...string) string {
	a.t.Helper()
	got, text := a.call(method, path, body)
	if got != status {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, got, text, status)
	}
	for _, c := range contains {
		if !strings.Contains(text, c) {
			a.t.Fatalf("%s %s: answer %s does not contain %q", method, path, text, c)
		}
	}
	return text
}

// onCallRotation is a valid rotation body for the API's schedules.
var onCallRotation = map[string]any{"participants": []string{"carol"}, "shift": "daily", "start": "2026-03-01", "handoff": "08:00"}

// TestOnCallAPI runs the API's stories, in order, on both backends.
func TestOnCallAPI(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newOnCallAPI(t, db)
		for _, step := range []func(*testing.T, *onCallAPI){
			onCallAPIWhoIsOnCall,
			onCallAPIObjects,
			onCallAPIBadBodies,
			onCallAPIFileObjectsAreReadOnly,
			onCallAPIOverrides,
			onCallAPIPolicies,
			onCallAPICalendar,
		} {
			a.t = t
			step(t, a)
			if t.Failed() {
				return
			}
		}
	})
}

// Who is on call, at a time given and now.
func onCallAPIWhoIsOnCall(t *testing.T, a *onCallAPI) {
	text := a.expect("GET", "/api/v1/schedules/primary/oncall?at=2026-03-29T12:00:00%2B02:00", nil, 200)
	var res oncall.OnCall
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.OnCall) != 1 || res.OnCall[0].User != "alice" || res.OnCall[0].Rotation != "weekly" ||
		!res.OnCall[0].End.Equal(time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)) || res.Next[0].User != "bob" {
		t.Fatalf("on call = %+v", res)
	}
	a.expect("GET", "/api/v1/schedules/primary/oncall", nil, 200, `"user":"alice"`, `"at":"2026-03-25T12:00:00Z"`)
	a.expect("GET", "/api/v1/schedules/nope/oncall", nil, 404, `schedule \"nope\"`)
	a.expect("GET", "/api/v1/schedules/primary/oncall?at=tomorrow", nil, 400, "at: want an RFC 3339 time")
}

// Users and schedules through the API, beside the file's.
func onCallAPIObjects(t *testing.T, a *onCallAPI) {
	a.expect("POST", "/api/v1/users", map[string]any{"name": "carol", "contactMethods": []any{map[string]string{"type": "email", "to": "carol@example.com"}}}, 201, `"source":"api"`)
	a.expect("POST", "/api/v1/schedules", map[string]any{"name": "db", "timeZone": "America/New_York", "rotations": []any{onCallRotation}}, 201)
	a.expect("GET", "/api/v1/schedules", nil, 200, `"name":"db"`, `"source":"api"`, `"name":"primary"`, `"source":"config"`)
	a.expect("GET", "/api/v1/schedules/db/oncall?at=2026-03-29T12:00:00Z", nil, 200, `"user":"carol"`, `"rotation":"rotation-1"`)
}

// Bad bodies: 400 naming the object and the field as JSON spells it.
func onCallAPIBadBodies(t *testing.T, a *onCallAPI) {
	a.expect("POST", "/api/v1/schedules", map[string]any{"name": "empty", "rotations": []any{map[string]any{"shift": "daily", "start": "2026-03-01"}}}, 400,
		`schedule \"empty\": rotations[0].participants: a rotation needs at least one participant`)
	a.expect("POST", "/api/v1/schedules", map[string]any{"name": "tz", "timeZone": "Europe/Berlni", "rotations": []any{onCallRotation}}, 400, "timeZone", "Europe/Berlni")
	a.expect("POST", "/api/v1/schedules", map[string]any{"name": "x", "rotations": []any{onCallRotation}, "bogus": 1}, 400, "bogus")
	a.expect("PUT", "/api/v1/schedules/db", map[string]any{"name": "other", "rotations": []any{onCallRotation}}, 400, "name:")
	a.expect("POST", "/api/v1/users", map[string]any{"name": "carol"}, 409, "already exists")
}

// The file's objects are read-only.
func onCallAPIFileObjectsAreReadOnly(t *testing.T, a *onCallAPI) {
	a.expect("PUT", "/api/v1/schedules/primary", map[string]any{"rotations": []any{onCallRotation}}, 409, "configuration file")
	a.expect("DELETE", "/api/v1/users/alice", nil, 409, "configuration file")
	a.expect("DELETE", "/api/v1/users/nobody", nil, 404)
}

// Overrides, also of the file's schedules.
func onCallAPIOverrides(t *testing.T, a *onCallAPI) {
	ov := map[string]any{"start": "2026-03-29T18:00:00+02:00", "end": "2026-03-30T09:00:00+02:00", "add": "carol", "remove": "alice"}
	a.expect("POST", "/api/v1/schedules/primary/overrides", ov, 201, `"id":`)
	a.expect("GET", "/api/v1/schedules/primary/oncall?at=2026-03-29T20:00:00%2B02:00", nil, 200, `"user":"carol"`, `"overrideId":`)
	ov["start"], ov["end"] = "2026-03-30T08:00:00+02:00", "2026-03-30T10:00:00+02:00"
	a.expect("POST", "/api/v1/schedules/primary/overrides", ov, 400, "start:", "overlaps override")
	ov["start"], ov["end"] = "2026-04-02T10:00:00+02:00", "2026-04-01T10:00:00+02:00"
	a.expect("POST", "/api/v1/schedules/primary/overrides", ov, 400, "end:", "is not after start")
	a.expect("GET", "/api/v1/schedules/primary/overrides?from=2026-03-01T00:00:00Z", nil, 200, `"add":"carol"`)
	a.expect("DELETE", "/api/v1/schedules/primary/overrides/999", nil, 404)
	a.expect("DELETE", "/api/v1/users/carol", nil, 409, "in use")
}

// Policies.
func onCallAPIPolicies(t *testing.T, a *onCallAPI) {
	pol := map[string]any{"name": "db", "steps": []any{map[string]any{"delay": "5m", "targets": []any{map[string]string{"schedule": "db"}, map[string]string{"receiver": "team"}}}}}
	a.expect("POST", "/api/v1/escalation-policies", pol, 201, `"delay":"5m"`)
	pol["name"] = "bad"
	pol["steps"] = []any{map[string]any{"delay": "5m", "targets": []any{map[string]string{"user": "zed"}}}}
	a.expect("POST", "/api/v1/escalation-policies", pol, 400, `steps[0].targets[0].user: unknown user \"zed\"`)
	a.expect("DELETE", "/api/v1/schedules/db", nil, 409, `escalation policy \"db\"`)
	a.expect("DELETE", "/api/v1/escalation-policies/db", nil, 204)
	a.expect("DELETE", "/api/v1/schedules/db", nil, 204)
}

// A person's shifts as a calendar.
func onCallAPICalendar(t *testing.T, a *onCallAPI) {
	resp, err := http.Get(a.srv.URL + "/api/v1/users/alice/shifts.ics?weeks=4")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/calendar") {
		t.Fatalf("shifts.ics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	cal := string(body)
	if !strings.HasPrefix(cal, "BEGIN:VCALENDAR\r\n") || !strings.Contains(cal, "DTSTART:20260323T080000Z\r\n") ||
		strings.Count(cal, "BEGIN:VEVENT\r\n") != 3 {
		// alice: week of 23 March (from its real start), 6 April, 20 April.
		t.Fatalf("calendar:\n%s", cal)
	}
	a.expect("GET", "/api/v1/users/zed/shifts.ics", nil, 404)
	a.expect("GET", "/api/v1/users/alice/shifts.ics?weeks=100", nil, 400, "weeks:")
	a.expect("GET", "/api/v1/users/alice/shifts?weeks=1", nil, 200, `"schedule":"primary"`, `"start":"2026-03-23T08:00:00Z"`)
}
