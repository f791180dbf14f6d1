package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/web"
	"github.com/klaxon-dev/klaxon/web/client"
)

// oncallServer runs the real API and on-call service on SQLite with a
// Berlin schedule: alice has the week from Monday 23 March 2026 09:00,
// bob the next.
func oncallServer(t *testing.T) *httptest.Server {
	t.Helper()
	cfg, err := config.Load([]byte(`route: {receiver: team}
receivers: [{name: team}]
users: [{name: alice}, {name: bob}, {name: carol}]
schedules:
  - name: primary
    time_zone: Europe/Berlin
    rotations:
      - {name: weekly, participants: [alice, bob], shift: weekly, start: 2026-03-23, handoff: "09:00"}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	db := storagetest.Open(t, "sqlite")
	svc := oncall.New(oncall.Options{DB: db})
	if err := svc.ApplyConfig(context.Background(), &cfg.OnCall); err != nil {
		t.Fatal(err)
	}
	// The command authenticates with a token from KLAXON_TOKEN.
	access := auth.New(auth.Options{DB: db})
	_, token, err := access.CreateToken(context.Background(), "cli", []auth.Scope{auth.ScopeRead, auth.ScopeRespond}, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KLAXON_TOKEN", token)
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(web.New(web.Options{OnCall: svc, Gatherer: reg, Registerer: reg, Access: web.Access{Auth: access}}))
	t.Cleanup(srv.Close)
	return srv
}

// runOnCall runs `klaxon oncall args...` as main would, at a fixed now.
func runOnCall(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	app := kingpin.New("klaxon", "")
	c := newOnCallCmd(app)
	var out, errb bytes.Buffer
	c.stdout, c.stderr = &out, &errb
	c.now = func() time.Time { return time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC) }
	c.localZone = time.UTC
	cmd, err := app.Parse(append([]string{"oncall"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if cmd != c.cmd.FullCommand() {
		t.Fatalf("parsed command %q", cmd)
	}
	return c.run(), out.String(), errb.String()
}

func TestOnCallCommand(t *testing.T) {
	srv := oncallServer(t)
	url := "--klaxon.url=" + srv.URL

	code, out, errText := runOnCall(t, url, "primary")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errText)
	}
	for _, want := range []string{
		"Schedule primary (Europe/Berlin) at 2026-03-25 13:00 CET",
		"alice 2026-03-23 09:00 CET 2026-03-30 09:00 CEST rotation weekly",
		"Next, from 2026-03-30 09:00 CEST:",
		"bob 2026-03-30 09:00 CEST 2026-04-06 09:00 CEST rotation weekly",
	} {
		// Column widths are tabwriter's business.
		if squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }; !strings.Contains(squash(out), squash(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// An override made through the API shows with its id.
	cl, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(os.Getenv("KLAXON_TOKEN"))
	o, err := cl.AddOverride(context.Background(), oncall.Override{Schedule: "primary", Add: "carol", Remove: "bob",
		Start: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errText = runOnCall(t, url, "primary", "--at", "2026-04-01T12:00:00+02:00", "-o", "json")
	if code != 0 || !strings.Contains(out, `"user": "carol"`) || !strings.Contains(out, `"overrideId": `+strconv.FormatInt(o.ID, 10)) {
		t.Fatalf("exit %d, json:\n%s%s", code, out, errText)
	}
	code, out, _ = runOnCall(t, url, "primary", "--at", "+168h")
	if code != 0 || !strings.Contains(out, "at 2026-04-01 14:00 CEST") || !strings.Contains(out, "carol") {
		t.Fatalf("relative --at: exit %d\n%s", code, out)
	}

	code, _, errText = runOnCall(t, url, "nope")
	if code != 1 || !strings.Contains(errText, `404 Not Found: schedule "nope": not found`) {
		t.Fatalf("unknown schedule: exit %d, stderr %q", code, errText)
	}
	code, _, errText = runOnCall(t, url, "primary", "--at", "next tuesday")
	if code != 2 || !strings.Contains(errText, `--at "next tuesday"`) {
		t.Fatalf("bad --at: exit %d, stderr %q", code, errText)
	}
}
