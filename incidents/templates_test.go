package incidents

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// templateFixture is newFixture with incidents: keys text and a log.
func templateFixture(t *testing.T, db *storage.DB, keys string) (*fixture, *bytes.Buffer) {
	t.Helper()
	cfg, err := config.Load([]byte("route:\n  receiver: team\nreceivers:\n  - name: team\n"+keys), ".")
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	f := &fixture{t: t, db: db, q: &queue{}, clk: clockwork.NewFakeClockAt(t0)}
	f.s = New(Options{DB: db, Clock: f.clk, Outbox: f.q, Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err := f.s.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return f, &log
}

func alertWith(labels ...string) *alert.Alert {
	ls := model.LabelSet{"alertname": "Down"}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return alert.New(model.Alert{Labels: ls, StartsAt: t0}, t0, false)
}

func TestSeverityAndServiceDefaults(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		for _, c := range []struct {
			labels                []string
			wantSeverity, wantSvc string
		}{
			{[]string{"severity", "page", "service", "api", "job", "node", "app", "web"}, "page", "api"},
			{[]string{"job", "node", "app", "web"}, "", "node"},
			{[]string{"app", "web"}, "", "web"},
			{nil, "", ""},
		} {
			f, _ := templateFixture(t, db, "")
			if _, err := db.Exec(context.Background(), `DELETE FROM incidents`); err != nil {
				t.Fatal(err)
			}
			f.flush(router.ReasonFirst, t0, alertWith(c.labels...))
			inc := f.only()
			if inc.Severity != c.wantSeverity || inc.Service != c.wantSvc {
				t.Errorf("labels %v: severity %q, service %q; want %q, %q", c.labels, inc.Severity, inc.Service, c.wantSeverity, c.wantSvc)
			}
		}
	})
}

func TestSeverityAndServiceTemplates(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f, _ := templateFixture(t, db, `incidents:
  severity_template: '{{ with .CommonLabels.priority }}{{ . | toUpper }}{{ else }}P3{{ end }}'
  service_template: '{{ .CommonLabels.team }}/{{ .CommonLabels.component }}'
`)
		f.flush(router.ReasonFirst, t0, alertWith("priority", "p1", "team", "db", "component", "pg"))
		if inc := f.only(); inc.Severity != "P1" || inc.Service != "db/pg" {
			t.Errorf("severity %q, service %q; want P1, db/pg", inc.Severity, inc.Service)
		}
	})
}

// A template that fails on an incident's data does not lose the incident:
// each value falls back, and a warning names the template.
func TestFailingTemplatesFallBack(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		// Valid, and fine on the empty data checked at load, but index
		// out of range once there is an alert.
		const bad = `'{{ if .Alerts }}{{ index .Alerts 5 }}{{ end }}'`
		f, log := templateFixture(t, db, "incidents:\n  title_template: "+bad+"\n  severity_template: "+bad+"\n  service_template: "+bad+"\n")
		f.flush(router.ReasonFirst, t0, alertWith("severity", "critical", "job", "node"))
		inc := f.only()
		if inc.Title != `{}:{alertname="Down"}` || inc.Severity != "critical" || inc.Service != "node" {
			t.Errorf("title %q, severity %q, service %q; want the group key, critical, node", inc.Title, inc.Severity, inc.Service)
		}
		for _, key := range []string{"title_template", "severity_template", "service_template"} {
			if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "template="+key) {
				t.Errorf("no warning for %s in log:\n%s", key, log)
			}
		}
	})
}

func TestListFilters(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f, _ := templateFixture(t, db, "")
		for i, labels := range [][]string{
			{"severity", "critical", "service", "api"},
			{"severity", "warning", "service", "api"},
			{"severity", "critical", "service", "db"},
		} {
			n := &router.Notification{GroupID: "g" + itoa(int64(i)), GroupKey: "k" + itoa(int64(i)), Receiver: "team",
				Alerts: []*alert.Alert{alertWith(labels...)}, Reason: router.ReasonFirst, At: t0.Add(time.Duration(i) * time.Minute)}
			if err := db.InTx(ctx, func(tx *storage.Tx) error { _, err := f.s.Flush(ctx, tx, n); return err }); err != nil {
				t.Fatal(err)
			}
		}
		all, err := f.s.List(ctx, Filter{})
		if err != nil || len(all) != 3 {
			t.Fatalf("%d incidents (%v), want 3", len(all), err)
		}
		if _, err := f.s.SetAssignee(ctx, all[0].ID, Actor{Name: "alice"}, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Ack(ctx, all[1].ID, Actor{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			f    Filter
			want int
		}{
			{Filter{Service: "api"}, 2},
			{Filter{Severity: "critical"}, 2},
			{Filter{Severity: "critical", Service: "api"}, 1},
			{Filter{Assignee: "alice"}, 1},
			{Filter{Status: Acknowledged, Service: "api"}, 1},
			{Filter{Status: Triggered, Assignee: "alice"}, 1},
			{Filter{Service: "nope"}, 0},
		} {
			got, err := f.s.List(ctx, c.f)
			if err != nil || len(got) != c.want {
				t.Errorf("List(%+v): %d incidents (%v), want %d", c.f, len(got), err, c.want)
			}
		}
	})
}
