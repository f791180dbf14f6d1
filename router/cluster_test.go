package router

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/cluster"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// replica is a clustered router with its membership, on a shared store.
type replica struct {
	*harness
	m *cluster.Member
}

func startReplica(t *testing.T, db *storage.DB, clock *clockwork.FakeClock, name string, lease time.Duration) *replica {
	t.Helper()
	return startReplicaWith(t, db, clock, name, lease, testConfig)
}

func startReplicaWith(t *testing.T, db *storage.DB, clock *clockwork.FakeClock, name string, lease time.Duration, cfgText string) *replica {
	t.Helper()
	cfg, err := amconfig.Load(cfgText)
	if err != nil {
		t.Fatal(err)
	}
	m := cluster.New(cluster.Options{DB: db, Name: name, Address: name, Lease: lease, Slots: Slots, Registerer: prometheus.NewRegistry()})
	h := &harness{t: t, db: db, clock: clock, sink: &recorder{}, done: make(chan struct{})}
	h.r = New(Options{DB: db, Clock: clock, Sink: h.sink, Registerer: prometheus.NewRegistry(), Fence: m})
	if err := h.r.ApplyConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.r.Run(ctx); close(h.done) }()
	t.Cleanup(h.shutdown)
	return &replica{harness: h, m: m}
}

func (r *replica) beat() {
	r.t.Helper()
	if err := r.m.Heartbeat(context.Background(), r.r); err != nil {
		r.t.Fatalf("heartbeat: %v", err)
	}
}

func (r *replica) sync() {
	r.t.Helper()
	if err := r.r.Sync(context.Background()); err != nil {
		r.t.Fatalf("sync: %v", err)
	}
}

// alertIn returns the name of an alert whose group (by alertname) is in a
// slot that r holds.
func (r *replica) alertIn(t *testing.T) string {
	t.Helper()
	held := r.r.HeldSlots()
	for i := range 1000 {
		name := fmt.Sprintf("Down%d", i)
		id, _, _ := groupIdentity(r.r.tree, model.LabelSet{"alertname": model.LabelValue(name)})
		if slices.Contains(held, SlotOf(id)) {
			return name
		}
	}
	t.Fatalf("no group in the slots %v", held)
	return ""
}

// TestReplicasFlushOnceWithAllAlerts runs two routers on one PostgreSQL
// database: a group is flushed only by the replica holding its slot, with
// the alerts posted to either replica; when that replica dies, the other
// takes the slot over after the lease and carries on from the shared
// notification log, notifying only what is new.
func TestReplicasFlushOnceWithAllAlerts(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	clock := clockwork.NewFakeClockAt(epoch)
	const lease = time.Second
	a := startReplica(t, db, clock, "a", lease)
	b := startReplica(t, db, clock, "b", lease)
	for range 3 {
		a.beat()
		b.beat()
	}
	ha, hb := a.r.HeldSlots(), b.r.HeldSlots()
	if len(ha) != Slots/2 || len(hb) != Slots/2 {
		t.Fatalf("slots after rebalancing: a %d, b %d", len(ha), len(hb))
	}

	name := a.alertIn(t)
	a.ingest(firing(name, "x", epoch))
	b.ingest(firing(name, "y", epoch)) // posted to the replica not flushing the group
	a.sync()
	b.sync()
	got := a.advance(30*time.Second, 1)
	if n := got[0]; len(n.Alerts) != 2 || n.Reason != ReasonFirst {
		t.Fatalf("the holder must notify both alerts once: %d alerts, reason %s", len(n.Alerts), n.Reason)
	}
	if n := len(b.sink.all()); n != 0 {
		t.Fatalf("the other replica notified %d times", n)
	}

	// a dies: no clean hand-over, its lease runs out.
	a.shutdown()
	b.ingest(firing(name, "z", clock.Now()))
	deadline := time.Now().Add(10 * lease)
	for len(b.r.HeldSlots()) != Slots {
		if time.Now().After(deadline) {
			t.Fatalf("b did not take a's slots over: holds %d", len(b.r.HeldSlots()))
		}
		time.Sleep(lease / 10)
		b.beat()
	}
	got = b.advance(5*time.Minute, 1)
	if n := got[0]; n.Reason != ReasonNew || len(n.Alerts) != 3 {
		t.Fatalf("after the takeover: reason %s with %d alerts, want new with 3", n.Reason, len(n.Alerts))
	}
	// Nothing changed since: no repeat before repeat_interval.
	b.advance(5*time.Minute, 1)
}

// TestCloseEndsAtExtensionWrittenAtOnce checks the lazy endsAt policy that
// makes replicas safe: other replicas flush from the stored version, so a
// re-send whose stored endsAt is close is written at once; one far ahead
// may wait, as Prometheus's re-sends do.
func TestCloseEndsAtExtensionWrittenAtOnce(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clock := clockwork.NewFakeClockAt(epoch)
		h := start(t, db, clock, testConfig)
		stored := func(instance string) time.Time {
			t.Helper()
			var ends int64
			fp := firing("Down", instance, epoch).Fingerprint().String()
			if err := db.QueryRow(context.Background(), `SELECT ends_at FROM alerts WHERE fingerprint = ?`, fp).Scan(&ends); err != nil {
				t.Fatal(err)
			}
			return storage.Time(ends)
		}
		h.ingest(firingUntil("Down", "close", epoch, epoch.Add(40*time.Second)))
		h.ingest(firingUntil("Down", "close", epoch, epoch.Add(100*time.Second)))
		if got := stored("close"); !got.Equal(epoch.Add(100 * time.Second)) {
			t.Errorf("extension of an endsAt 40s ahead: stored %v, want it written at once", got.Sub(epoch))
		}
		h.ingest(firingUntil("Down", "far", epoch, epoch.Add(4*time.Minute)))
		h.ingest(firingUntil("Down", "far", epoch, epoch.Add(5*time.Minute)))
		if got := stored("far"); !got.Equal(epoch.Add(4 * time.Minute)) {
			t.Errorf("extension of an endsAt 4m ahead: stored %v, want it left for the lazy write", got.Sub(epoch))
		}
	})
}

// TestSyncForgetsAlertsResolvedElsewhere checks that a replica which did
// not read an alert's resolution before the flushing replica deleted it
// forgets the alert, instead of notifying it firing again when it takes
// the group over.
func TestSyncForgetsAlertsResolvedElsewhere(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	clock := clockwork.NewFakeClockAt(epoch)
	a := startReplica(t, db, clock, "a", time.Minute)
	b := startReplica(t, db, clock, "b", time.Minute)
	for range 3 {
		a.beat()
		b.beat()
	}
	name := a.alertIn(t)
	x, y := firing(name, "x", epoch), firing(name, "y", epoch)
	b.ingest(x, y)
	a.sync()
	a.advance(30*time.Second, 1)
	// The resolution of x reaches a only; a notifies it and deletes x.
	a.ingest(resolved(x, clock.Now()))
	got := a.advance(5*time.Minute, 2)
	if got[1].Reason != ReasonResolved {
		t.Fatalf("the resolution must be notified, got %s", got[1].Reason)
	}
	b.sync()
	b.sync()
	b.r.mu.Lock()
	_, kept := b.r.alerts[x.Fingerprint()]
	b.r.mu.Unlock()
	if kept {
		t.Fatal("b still holds x, resolved and deleted by a")
	}
	// a stops cleanly: b takes the group over at once, with nothing new
	// to notify.
	a.m.Leave(context.Background(), a.r)
	b.beat()
	if n := len(b.r.HeldSlots()); n != Slots {
		t.Fatalf("after a left, b holds %d slots", n)
	}
	b.advance(5*time.Minute, 0)
}

// TestSyncSkippedOnlyWhileAlone checks when a replica reads the alerts
// table for what others wrote: not while it has been the only live replica
// since its last read (its start-up read included); always while it has a
// peer; and in full after the set of replicas changed (here when it takes
// over the slots of a peer that left).
func TestSyncSkippedOnlyWhileAlone(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	clock := clockwork.NewFakeClockAt(epoch)
	a := startReplica(t, db, clock, "a", time.Minute)
	a.beat()
	if a.r.syncNeeded() {
		t.Fatal("a replica alone since its start-up read reads the table again")
	}

	b := startReplica(t, db, clock, "b", time.Minute)
	b.beat()
	a.beat()
	if !a.r.syncNeeded() {
		t.Fatal("a replica with a peer skips reading what the peer wrote")
	}
	b.ingest(firing("Other", "x", epoch))
	a.sync()
	if !a.r.syncNeeded() {
		t.Fatal("a replica with a peer skips reading after one read")
	}
	if n := len(a.r.Alerts()); n != 1 {
		t.Fatalf("a holds %d alerts after reading, want the peer's 1", n)
	}

	// The peer's last write before it leaves is read when its slots are
	// taken over, which is a full read with the peer gone.
	b.ingest(firing("Last", "x", epoch))
	b.m.Leave(context.Background(), b.r)
	a.beat()
	if n := len(a.r.Alerts()); n != 2 {
		t.Fatalf("a holds %d alerts after its peer left, want 2", n)
	}
	if a.r.syncNeeded() {
		t.Fatal("a replica alone again since its last read reads the table again")
	}
	clock.Advance(aloneSyncInterval)
	if !a.r.syncNeeded() {
		t.Fatalf("a replica alone reads the table less often than every %v", aloneSyncInterval)
	}
}

// TestInlineFlushFencedOut checks the fence of a flush inside an ingest,
// which is read with the flush's first read: a replica whose slot was
// taken over in the database (before it noticed) records no notification
// for the group, and still stores the alerts; its flushers leave the group
// to the slot's owner too.
func TestInlineFlushFencedOut(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(epoch)
	a := startReplicaWith(t, db, clock, "a", time.Minute, immediateConfig)
	a.beat()
	a.waitRunning()
	held := a.r.HeldSlots()
	pageIn := func(taken bool) *alert.Alert {
		for i := range 1000 {
			al := page(fmt.Sprintf("Page%d", i), epoch, nil)
			id, _, _ := groupIdentity(a.r.tree.Match(al.Labels)[0], al.Labels)
			if slices.Contains(held, SlotOf(id)) {
				if taken {
					if _, err := db.Exec(ctx, `UPDATE cluster_slots SET owner = 'b' WHERE slot = ?`, SlotOf(id)); err != nil {
						t.Fatal(err)
					}
				}
				held = slices.DeleteFunc(held, func(s int) bool { return s == SlotOf(id) })
				return al
			}
		}
		t.Fatal("no free held slot")
		return nil
	}

	taken := pageIn(true)
	a.ingest(taken)
	if n := a.inlineFlushes(); n != 0 {
		t.Fatalf("%d inline flushes recorded for a group whose slot was taken over", n)
	}
	var stored int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM alerts WHERE fingerprint = ?`, taken.Fingerprint().String()).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 1 {
		t.Fatalf("the alert was not stored (%d rows)", stored)
	}
	// The sink saw the flush's notification, in the transaction that
	// then failed; the notification log holds what was committed.
	logged := func() int {
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM nflog`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, "the flushers to try the group", a.idle)
	if n := logged(); n != 0 {
		t.Fatalf("%d notifications logged for a group whose slot was taken over", n)
	}

	// The same ingest for a group in a slot still held pages inline.
	a.ingest(pageIn(false))
	if n := a.inlineFlushes(); n != 1 {
		t.Fatalf("%d inline flushes, want 1", n)
	}
	if n := logged(); n != 1 {
		t.Fatalf("%d notifications logged, want 1", n)
	}
}
