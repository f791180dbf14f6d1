package incidents

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// workConfig is the configuration of the stories below: team's incidents
// page through policy "primary": the on-call person of schedule "day",
// then after 5m bob and the team receiver again.
const workConfig = `route:
  receiver: team
receivers:
  - name: team
incidents:
  reopen_window: 10m
  ack_timeout: 30m
  ack_link_secret: s3cret
  escalation:
    - {receiver: team, policy: primary}
  links:
    - {kind: dashboard, title: Grafana, url: "https://grafana.example.com/d/x?var-instance={{ .Labels.instance }}&from={{ .StartMillis }}"}
    - {kind: trace, url: "https://tempo.example.com/trace/{{ .TraceID }}"}
users:
  - name: alice
    contact_methods: [{type: email, to: alice@example.com}]
  - name: bob
    contact_methods: [{type: webhook, to: "https://hooks.example.com/bob"}]
schedules:
  - name: day
    rotations:
      - {participants: [alice], shift: weekly, start: 2026-01-05}
  - name: weekends
    rotations:
      - {participants: [bob], shift: weekly, start: 2026-01-03, only: {weekdays: [sat, sun]}}
escalation_policies:
  - name: primary
    steps:
      - {delay: 5m, targets: [{schedule: day}]}
      - {delay: 10m, targets: [{user: bob}, {receiver: team}]}
  - name: nobody
    steps:
      - {delay: 5m, targets: [{schedule: weekends}]}
`

// newWorkFixture is newFixture with workConfig and a real on-call service.
func newWorkFixture(t *testing.T, db *storage.DB, text string) *fixture {
	t.Helper()
	cfg, err := config.Load([]byte(text), ".")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, q: &queue{}, clk: clockwork.NewFakeClockAt(t0)}
	oc := oncall.New(oncall.Options{DB: db, Clock: f.clk})
	if err := oc.ApplyConfig(context.Background(), &cfg.OnCall); err != nil {
		t.Fatal(err)
	}
	f.s = New(Options{DB: db, Clock: f.clk, Outbox: f.q, Registerer: prometheus.NewRegistry(), OnCall: oc})
	if err := f.s.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// receivers lists the receivers of the queued messages from index from.
func (f *fixture) receivers(from int) []string {
	var out []string
	for _, m := range f.q.msgs[from:] {
		out = append(out, m.Receiver)
	}
	return out
}

func (f *fixture) runDue(at time.Time) {
	f.t.Helper()
	f.clk.Advance(at.Sub(f.clk.Now()))
	if _, err := f.s.RunDue(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func TestEditsAndUnackAreOnTheTimeline(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newWorkFixture(t, db, workConfig)
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		id := f.only().ID
		alice := Actor{Name: "alice", Via: "api"}
		mustDo := func(_ *Incident, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		mustDo(f.s.Ack(ctx, id, alice))
		queued := len(f.q.msgs)
		mustDo(f.s.Unack(ctx, id, alice))
		if m := f.q.msgs[queued]; m.Ack != nil || m.Reason != notifiers.ReasonAcknowledged {
			t.Errorf("un-ack queued %+v, want an update without ack", m)
		}
		mustDo(f.s.AddNote(ctx, id, alice, "looking at the disk"))
		mustDo(f.s.SetAssignee(ctx, id, alice, "alice"))
		mustDo(f.s.SetSeverity(ctx, id, alice, "warning"))
		mustDo(f.s.AddLink(ctx, id, alice, Link{Kind: "doc", URL: "https://wiki.example.com/db"}))
		if _, err := f.s.AddLink(ctx, id, alice, Link{URL: "javascript:alert(1)"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("script link: err = %v, want ErrInvalid", err)
		}
		if _, err := f.s.AddNote(ctx, id, alice, " "); !errors.Is(err, ErrInvalid) {
			t.Errorf("empty note: err = %v, want ErrInvalid", err)
		}
		inc, err := f.s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if inc.Status != Triggered || inc.Assignee != "alice" || inc.Severity != "warning" {
			t.Errorf("incident = %s/%s/%s, want triggered/alice/warning", inc.Status, inc.Assignee, inc.Severity)
		}
		want := []string{"acknowledged", "unacknowledged", "note", "assignee_changed", "severity_changed", "link_added"}
		got := kinds(inc)
		if i := slices.Index(got, "acknowledged"); i < 0 || !slices.Equal(got[i:], want) {
			t.Errorf("timeline = %v, want it to end in %v", got, want)
		}
		events, err := f.s.Events(ctx, id)
		if err != nil || len(events) != len(inc.Timeline) {
			t.Errorf("Events = %d events, %v; want the %d of the timeline", len(events), err, len(inc.Timeline))
		}
		if _, err := f.s.Events(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Events(999) err = %v, want ErrNotFound", err)
		}
		if _, err := f.s.Unack(ctx, 999, alice); !errors.Is(err, ErrNotFound) {
			t.Errorf("Unack(999) err = %v, want ErrNotFound", err)
		}
	})
}

func TestLinksFromAnnotationsAlertsAndTemplates(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newWorkFixture(t, db, workConfig)
		a := alertAt("db1", t0, time.Time{})
		a.Annotations["runbook_url"] = "https://runbooks.example.com/down"
		a.Annotations["trace_id"] = "abc123"
		a.GeneratorURL = "http://prometheus:9090/graph?g0.expr=up"
		f.flush(router.ReasonFirst, t0, a)
		inc, err := f.s.Get(context.Background(), f.only().ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range inc.Links {
			got = append(got, l.Kind+" "+l.Source+" "+l.URL)
		}
		want := []string{
			"runbook annotation https://runbooks.example.com/down",
			"source alert http://prometheus:9090/graph?g0.expr=up",
			"dashboard config https://grafana.example.com/d/x?var-instance=db1&from=" + itoa(t0.UnixMilli()),
			"trace config https://tempo.example.com/trace/abc123",
		}
		if !slices.Equal(got, want) {
			t.Errorf("links:\n got %q\nwant %q", got, want)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestReopenWithinWindow(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newWorkFixture(t, db, workConfig)
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		first := f.only().ID
		f.flush(router.ReasonResolved, t0.Add(time.Minute), alertAt("db1", t0, t0.Add(time.Minute)))
		// Fires again 5 minutes after resolving: the same incident.
		again := t0.Add(6 * time.Minute)
		f.flush(router.ReasonNew, again, alertAt("db1", again, time.Time{}))
		inc := f.only()
		if inc.ID != first || inc.Status != Triggered {
			t.Fatalf("after firing again: incident %d %s, want %d triggered", inc.ID, inc.Status, first)
		}
		if !slices.Contains(kinds(inc), "reopened") {
			t.Errorf("timeline %v lacks reopened", kinds(inc))
		}
		// Resolves, and fires again after the window: a new incident.
		f.flush(router.ReasonResolved, again.Add(time.Minute), alertAt("db1", again, again.Add(time.Minute)))
		late := again.Add(30 * time.Minute)
		f.flush(router.ReasonNew, late, alertAt("db1", late, time.Time{}))
		list, err := f.s.List(context.Background(), Filter{})
		if err != nil || len(list) != 2 || list[0].ID == first {
			t.Errorf("after the window: %d incidents (%v), want a second one", len(list), err)
		}
	})
}
