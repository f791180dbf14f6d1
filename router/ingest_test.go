package router

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// Concurrent ingests are committed in shared transactions; each is durable
// when it returns.
func TestConcurrentIngestsAreAllDurable(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for c := range 16 {
			wg.Go(func() {
				var as []*alert.Alert
				for i := range 10 {
					as = append(as, firing(fmt.Sprintf("A%d", c), fmt.Sprintf("i%d", i), epoch))
				}
				if err := h.r.Ingest(context.Background(), as); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		h.shutdown()
		h2 := start(t, db, clock, testConfig)
		h2.r.mu.Lock()
		defer h2.r.mu.Unlock()
		if len(h2.r.alerts) != 160 || len(h2.r.groups) != 16 {
			t.Fatalf("after restart: %d alerts in %d groups, want 160 in 16", len(h2.r.alerts), len(h2.r.groups))
		}
	})
}

// Two calls committed in one batch merge as if ingested one after the other:
// the later resolve of an alert wins over its earlier firing.
func TestBatchMergesCallsInOrder(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		a := firing("Down", "a", epoch)
		res := resolved(a, epoch.Add(time.Minute))
		batch := []*ingestReq{{alerts: []*alert.Alert{a}}, {alerts: []*alert.Alert{res}}}
		wait, err := h.r.commitBatch(context.Background(), batch, lazyNone)
		if err == nil {
			err = wait()
		}
		if err != nil {
			t.Fatal(err)
		}
		h.shutdown()
		h2 := start(t, db, clock, testConfig)
		h2.r.mu.Lock()
		defer h2.r.mu.Unlock()
		got := h2.r.alerts[a.Fingerprint()]
		if got == nil || !got.EndsAt.Equal(res.EndsAt) {
			t.Fatalf("stored alert = %+v (ends %v), want endsAt %v", got, got.EndsAt, res.EndsAt)
		}
	})
}

// A group that a flush drops between the planning of a batch and its
// application is formed again, with a creation time of its own so that the
// flush's clean-up does not delete the new row.
func TestGroupDroppedDuringCommitIsFormedAgain(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		h.ingest(firing("Down", "a", epoch))
		b := firing("Down", "b", epoch)

		h.r.mu.Lock()
		p := h.r.planLocked([]*ingestReq{{alerts: []*alert.Alert{b}}}, lazyNone)
		// A flush settles meanwhile, dropping the group.
		var old *group
		for id, g := range h.r.groups {
			old = g
			delete(h.r.groups, id)
			h.r.sched.remove(g)
		}
		recreated := h.r.applyLocked(p)
		h.r.mu.Unlock()
		if len(recreated) != 1 {
			t.Fatalf("%d groups formed again, want 1", len(recreated))
		}
		g := recreated[0]
		if g.id != old.id || !g.createdAt.After(old.createdAt) {
			t.Fatalf("new group %s created %v; old %s created %v", g.id, g.createdAt, old.id, old.createdAt)
		}
		if _, ok := g.alerts[b.Fingerprint()]; !ok {
			t.Fatal("alert not in the group formed again")
		}
		if err := h.r.db.InTx(context.Background(), func(tx *storage.Tx) error { return g.upsert(context.Background(), tx) }); err != nil {
			t.Fatal(err)
		}
		// The dropped group's clean-up deletes only its own row.
		w := settleWork{g: old, emptied: true, created: storage.Millis(old.createdAt)}
		h.r.settle(context.Background(), []settleWork{w})
		rows, err := loadGroups(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rows[g.id]; !ok {
			t.Fatal("row of the group formed again was deleted")
		}
	})
}

func storedEndsAt(t *testing.T, db *storage.DB, a *alert.Alert) time.Time {
	t.Helper()
	alerts, err := loadAlerts(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	s := alerts[a.Fingerprint()]
	if s == nil {
		t.Fatal("alert not stored")
	}
	return s.EndsAt
}

// A re-send that only moves endsAt later is not written at once, nor while
// the stored endsAt lies far ahead: it is written once the stored endsAt
// comes within lazySafety (and the margin of one look), so that it never
// lies closer than lazySafety.
func TestEndsAtExtensionIsWrittenLater(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		a := firingUntil("Down", "a", epoch, epoch.Add(4*time.Minute))
		h.ingest(a)
		ext := firingUntil("Down", "a", epoch, epoch.Add(5*time.Minute))
		ext.UpdatedAt = epoch.Add(time.Second)
		h.ingest(ext)
		if got := storedEndsAt(t, db, a); !got.Equal(a.EndsAt) {
			t.Fatalf("stored endsAt %v right after the re-send, want the earlier %v", got, a.EndsAt)
		}
		// Another alert's change does not write it either.
		h.ingest(firing("Down", "b", epoch))
		if got := storedEndsAt(t, db, a); !got.Equal(a.EndsAt) {
			t.Fatalf("stored endsAt %v after another alert's write, want the earlier %v", got, a.EndsAt)
		}
		ext2 := firingUntil("Down", "a", epoch, epoch.Add(6*time.Minute))
		ext2.UpdatedAt = epoch.Add(2 * time.Second)
		h.ingest(ext2)
		// Looked at a moment later, the stored endsAt still lies minutes
		// ahead: nothing is written.
		clock.Advance(lazyWriteDelay)
		h.r.mu.Lock()
		_, waiting := h.r.lazy[a.Fingerprint()]
		h.r.mu.Unlock()
		if got := storedEndsAt(t, db, a); !got.Equal(a.EndsAt) || !waiting {
			t.Fatalf("stored endsAt %v (still waiting: %v) a second after the re-send, want %v", got, waiting, a.EndsAt)
		}
		// Once the stored endsAt comes close, the last extension is
		// written, while the stored one still lies lazySafety ahead.
		for !clock.Now().After(a.EndsAt.Add(-lazySafety - lazyWriteDelay)) {
			if !storedEndsAt(t, db, a).After(clock.Now().Add(lazySafety)) {
				t.Fatalf("at %v the stored endsAt came within %v", clock.Now().Sub(epoch), lazySafety)
			}
			clock.Advance(lazyWriteDelay)
			time.Sleep(time.Millisecond)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !storedEndsAt(t, db, a).Equal(ext2.EndsAt) {
			if time.Now().After(deadline) {
				t.Fatalf("endsAt extension not written when the stored endsAt came within %v", lazySafety)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}

// After a crash, an alert whose last re-sends were not yet written comes
// back with the endsAt last written: it still fires if that lies ahead,
// and resolves if the process stayed down past it.
func TestUnwrittenExtensionAfterCrash(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		cfg, err := amconfig.Load(testConfig)
		if err != nil {
			t.Fatal(err)
		}
		// No Run: nothing writes the extension before the "crash".
		r := New(Options{DB: db, Clock: clock, Sink: &recorder{}, Registerer: prometheus.NewRegistry()})
		if err := r.ApplyConfig(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if err := r.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		a := firingUntil("Down", "a", epoch, epoch.Add(4*time.Minute))
		ext := firingUntil("Down", "a", epoch, epoch.Add(8*time.Minute))
		ext.UpdatedAt = epoch.Add(time.Second)
		for _, x := range []*alert.Alert{a, ext} {
			if err := r.Ingest(context.Background(), []*alert.Alert{x}); err != nil {
				t.Fatal(err)
			}
		}
		if got := storedEndsAt(t, db, a); !got.Equal(a.EndsAt) {
			t.Fatalf("stored endsAt %v, want %v", got, a.EndsAt)
		}
		// The process dies (its lazy write never runs) and stays down for
		// 5 minutes: past the stored endsAt, so the alert comes back
		// resolved.
		r.mu.Lock()
		r.lazyTimer.Stop()
		r.mu.Unlock()
		clock.Advance(5 * time.Minute)
		// The restarted router is inspected before it runs: running, it
		// would flush the resolved alert away at once.
		r2 := New(Options{DB: db, Clock: clock, Sink: &recorder{}, Registerer: prometheus.NewRegistry()})
		if err := r2.ApplyConfig(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if err := r2.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		r2.mu.Lock()
		got := r2.alerts[a.Fingerprint()]
		r2.mu.Unlock()
		if got == nil || !got.EndsAt.Equal(a.EndsAt) || !got.ResolvedAt(clock.Now()) {
			t.Fatalf("after the restart: %v, want resolved at %v", got, a.EndsAt)
		}
	})
}
