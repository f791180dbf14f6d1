package web

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/receiver"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// incidentWorld is a real store with the real outbox, on-call and incident
// services configured from one configuration text, on a fake clock, and
// one triggered incident: the hooks, access-control and incident-page
// tests all start from it.
type incidentWorld struct {
	cfg    *config.Config
	clk    *clockwork.FakeClock
	reg    *prometheus.Registry
	outbox *notifiers.Outbox
	oc     *oncall.Service
	inc    *incidents.Service
	// id is the triggered incident's.
	id int64
}

// newIncidentWorld builds the world and flushes a, firing since now, as
// the first notification of its alertname's group to receiver "team".
func newIncidentWorld(t *testing.T, db *storage.DB, cfgText string, a model.Alert) *incidentWorld {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load([]byte(cfgText), ".")
	if err != nil {
		t.Fatal(err)
	}
	w := &incidentWorld{cfg: cfg, clk: clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)), reg: prometheus.NewRegistry()}
	ext, _ := url.Parse("http://klaxon.example.com")
	w.outbox = notifiers.NewOutbox(notifiers.OutboxOptions{DB: db, Clock: w.clk, Build: receiver.Build, ExternalURL: ext, Registerer: w.reg})
	if err := w.outbox.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	w.oc = oncall.New(oncall.Options{DB: db, Clock: w.clk})
	if err := w.oc.ApplyConfig(ctx, &cfg.OnCall); err != nil {
		t.Fatal(err)
	}
	w.inc = incidents.New(incidents.Options{DB: db, Clock: w.clk, Outbox: w.outbox, OnCall: w.oc, Registerer: w.reg, ExternalURL: ext})
	if err := w.inc.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	a.StartsAt = w.clk.Now()
	name := a.Labels["alertname"]
	err = db.InTx(ctx, func(tx *storage.Tx) error {
		_, err := w.inc.Flush(ctx, tx, &router.Notification{GroupID: "g1", GroupKey: `{}:{alertname="` + string(name) + `"}`,
			Receiver: "team", GroupLabels: model.LabelSet{"alertname": name},
			Alerts: []*alert.Alert{alert.New(a, w.clk.Now(), false)}, Reason: router.ReasonFirst, At: w.clk.Now()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := w.inc.List(ctx, incidents.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("incidents: %v, %v", list, err)
	}
	w.id = list[0].ID
	return w
}
