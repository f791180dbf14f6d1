package router

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	amconfig "github.com/prometheus/alertmanager/config"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// A restart between two group_interval ticks keeps the group on its grid:
// the next tick happens when it would have without the restart, not at
// once with the grid shifted to the restart.
func TestRestartKeepsGroupIntervalGrid(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Down", "a", epoch))
		h.advance(30*time.Second, 1) // first flush at 0:30
		h.advance(5*time.Minute, 1)  // tick at 5:30, nothing new
		h.advance(10*time.Second, 1) // 5:40
		h.shutdown()

		h2 := start(t, db, clock, testConfig)
		h2.advance(20*time.Second, 0) // 6:00
		h2.ingest(firing("Down", "b", clock.Now()))
		h2.advance(4*time.Minute+29*time.Second, 0) // 10:29
		got := h2.advance(time.Second, 1)           // the tick at 10:30
		if got[0].Reason != ReasonNew || len(got[0].Alerts) != 2 {
			t.Fatalf("tick after restart: reason %s with %d alerts", got[0].Reason, len(got[0].Alerts))
		}
	})
}

// A reload restarts each group's timer as Alertmanager's does (it builds
// new aggregation groups): alerts older than group_wait flush at once,
// which notifies nothing already notified, and the grid starts again at
// the reload.
func TestReloadRestartsTimersLikeAlertmanager(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Down", "a", epoch))
		h.advance(30*time.Second, 1)
		h.advance(90*time.Second, 1) // 2:00
		cfg, err := amconfig.Load(testConfig)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.r.ApplyConfig(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		h.advance(0, 1) // the immediate flush notifies nothing
		h.advance(time.Minute, 1)
		h.ingest(firing("Down", "b", clock.Now())) // 3:00
		h.advance(3*time.Minute+59*time.Second, 1) // 6:59: the old grid's 5:30 passed silently
		got := h.advance(time.Second, 2)           // 7:00 = reload + group_interval
		if got[1].Reason != ReasonNew {
			t.Fatalf("reason %s, want new", got[1].Reason)
		}
	})
}

// Replicas share the database: a silence created, or expired, through one
// is seen by the other's API and mutes (or stops muting) its flushes.
func TestSilencesSharedBetweenReplicas(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		a := start(t, db, clock, testConfig)
		b := start(t, db, clock, testConfig)
		id := a.silence(&Silence{Matchers: matchers(t, `alertname="Down"`), EndsAt: epoch.Add(time.Hour)})
		if s, err := b.r.GetSilence(context.Background(), id); err != nil || s.ID != id {
			t.Fatalf("replica b: silence %s: %v", id, err)
		}
		b.ingest(firing("Down", "x", epoch), firing("Up", "x", epoch))
		got := b.advance(30*time.Second, 1)
		if got[0].GroupLabels["alertname"] != "Up" {
			t.Fatalf("replica b notified %v, want only Up", got[0].GroupLabels)
		}
		if err := a.r.ExpireSilence(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		got = b.advance(5*time.Minute, 2)
		if got[1].GroupLabels["alertname"] != "Down" {
			t.Fatalf("after expiry through replica a, b notified %v", got[1].GroupLabels)
		}
	})
}
