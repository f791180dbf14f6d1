package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

const testSlots = 16

// holder records the slots a member hands it, as the router would flush
// them.
type holder struct {
	mu   sync.Mutex
	held map[int]bool
	fail bool
}

func (h *holder) AcquireSlots(_ context.Context, slots []int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		return context.DeadlineExceeded
	}
	for _, s := range slots {
		if h.held[s] {
			panic("slot acquired twice")
		}
		h.held[s] = true
	}
	return nil
}

func (h *holder) ReleaseSlots(slots []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range slots {
		delete(h.held, s)
	}
}

func (h *holder) slots() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return sortedKeys(h.held)
}

type replica struct {
	t *testing.T
	m *Member
	h *holder
}

func newReplica(t *testing.T, db *storage.DB, name string, lease time.Duration) *replica {
	m := New(Options{DB: db, Name: name, Address: name + ":9093", Lease: lease, Slots: testSlots, Registerer: prometheus.NewRegistry()})
	return &replica{t: t, m: m, h: &holder{held: map[int]bool{}}}
}

func (r *replica) beat() {
	r.t.Helper()
	if err := r.m.Heartbeat(context.Background(), r.h); err != nil {
		r.t.Fatalf("heartbeat of %s: %v", r.m.name, err)
	}
	if got, want := r.h.slots(), r.m.Held(); !slices.Equal(got, want) {
		r.t.Fatalf("%s: the router holds %v, the member thinks %v", r.m.name, got, want)
	}
}

// rounds runs heartbeat rounds of every replica until the slots are spread
// as want (slots per replica, in order), failing after a bounded number of
// rounds: rebalancing takes a release round and a claim round.
func rounds(t *testing.T, want []int, rs ...*replica) {
	t.Helper()
	for range 6 {
		for _, r := range rs {
			r.beat()
		}
		if got := counts(rs); slices.Equal(got, want) {
			assertDisjoint(t, rs)
			return
		}
	}
	t.Fatalf("slots per replica: got %v, want %v", counts(rs), want)
}

func counts(rs []*replica) []int {
	var out []int
	for _, r := range rs {
		out = append(out, len(r.h.slots()))
	}
	return out
}

func assertDisjoint(t *testing.T, rs []*replica) {
	t.Helper()
	seen := map[int]string{}
	for _, r := range rs {
		for _, s := range r.h.slots() {
			if o, ok := seen[s]; ok {
				t.Fatalf("slot %d held by %s and %s", s, o, r.m.name)
			}
			seen[s] = r.m.name
		}
	}
}

func TestSlotsJoinLeaveExpire(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	const lease = time.Second
	a := newReplica(t, db, "a", lease)
	rounds(t, []int{testSlots}, a)
	if !a.m.Settled() || len(a.m.Peers()) != 1 {
		t.Fatalf("a alone: settled %v, peers %v", a.m.Settled(), a.m.Peers())
	}

	// Join: b and then c get their fair share; a hands back the rest.
	b := newReplica(t, db, "b", lease)
	rounds(t, []int{8, 8}, a, b)
	c := newReplica(t, db, "c", lease)
	want := []int{6, 5, 5} // 16/3, the remainder to the first by id
	rs := []*replica{a, b, c}
	slices.SortFunc(rs, func(x, y *replica) int {
		if x.m.id < y.m.id {
			return -1
		}
		return 1
	})
	rounds(t, want, rs...)
	for _, r := range rs {
		if !r.m.Settled() || len(r.m.Peers()) != 3 {
			t.Fatalf("%s: settled %v, peers %d", r.m.name, r.m.Settled(), len(r.m.Peers()))
		}
	}

	// Leave: a clean stop hands the slots back at once.
	rs[2].m.Leave(context.Background(), rs[2].h)
	if got := rs[2].h.slots(); len(got) != 0 {
		t.Fatalf("after leaving, the router still holds %v", got)
	}
	rounds(t, []int{8, 8}, rs[0], rs[1])

	// Lease expiry: a replica that stops heart-beating (a crash) loses its
	// slots once its lease ran out, and not before.
	dead, alive := rs[0], rs[1]
	alive.beat()
	if n := len(alive.h.slots()); n != 8 {
		t.Fatalf("before the lease ran out the survivor must keep its share, holds %d", n)
	}
	deadline := time.Now().Add(10 * lease)
	for len(alive.h.slots()) != testSlots {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor did not take over within 10 leases: holds %v", alive.h.slots())
		}
		time.Sleep(lease / 10)
		alive.beat()
	}
	if len(alive.m.Peers()) != 1 {
		t.Fatalf("the dead replica is still listed: %v", alive.m.Peers())
	}

	// The dead replica comes back (a pause, not a crash): it learns that
	// its slots were taken over, and rejoins with a fair share.
	if err := dead.m.Heartbeat(context.Background(), dead.h); err != nil {
		t.Fatal(err)
	}
	rounds(t, []int{8, 8}, dead, alive)
}

// TestFenceHoldsOffTakeover checks the fence of a flush: while a flush's
// transaction holds its slot, another replica cannot take the slot over;
// once it committed, the takeover goes ahead and the old holder's next
// flush is refused.
func TestFenceHoldsOffTakeover(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	ctx := context.Background()
	const lease = 500 * time.Millisecond
	a := newReplica(t, db, "a", lease)
	a.beat()
	slot := a.h.slots()[0]

	// A flush of slot in progress: its transaction stays open until told.
	fenced, commit, done := make(chan error, 1), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.InTx(ctx, func(tx *storage.Tx) error {
			ok, err := a.m.Holds(ctx, tx, slot)
			if err == nil && !ok {
				err = errors.New("the holder's fence refused")
			}
			fenced <- err
			<-commit
			return err
		})
	}()
	if err := <-fenced; err != nil {
		t.Fatal(err)
	}
	b := newReplica(t, db, "b", lease)
	deadline := time.Now().Add(20 * lease)
	for len(b.h.slots()) < testSlots-1 {
		if time.Now().After(deadline) {
			t.Fatalf("b did not take over a's expired slots: holds %v", b.h.slots())
		}
		time.Sleep(lease / 5)
		b.beat()
	}
	if slices.Contains(b.h.slots(), slot) {
		t.Fatalf("b took slot %d over while a's flush held it", slot)
	}
	close(commit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b.beat()
	if !slices.Contains(b.h.slots(), slot) {
		t.Fatalf("after the flush committed b must take slot %d over, holds %v", slot, b.h.slots())
	}
	err := db.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := a.m.Holds(ctx, tx, slot)
		if err == nil && ok {
			t.Errorf("a's fence must refuse a flush of slot %d after the takeover", slot)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAcquireFailureRetried checks that slots leased while the router could
// not load them are handed over on a later round, and count as not settled
// meanwhile.
func TestAcquireFailureRetried(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	a := newReplica(t, db, "a", time.Second)
	a.h.fail = true
	if err := a.m.Heartbeat(context.Background(), a.h); err == nil {
		t.Fatal("a failed take-over must be reported")
	}
	if a.m.Settled() || len(a.h.slots()) != 0 {
		t.Fatalf("settled %v with %v held after a failed take-over", a.m.Settled(), a.h.slots())
	}
	a.h.fail = false
	a.beat()
	if len(a.h.slots()) != testSlots || !a.m.Settled() {
		t.Fatalf("after retry: %v, settled %v", a.h.slots(), a.m.Settled())
	}
}

func TestFairShare(t *testing.T) {
	peers := []Peer{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	for id, want := range map[string]int{"a": 43, "b": 43, "c": 42, "d": 32} {
		if got := fairShare(128, peers, id); got != want {
			t.Errorf("share of %s: got %d, want %d", id, got, want)
		}
	}
}

// TestRestartTakesOwnSlotsBack checks that a process restarted with its
// previous id (StableID) takes that id's slots back on its first heartbeat,
// without waiting for their lease, and hands them to its router.
func TestRestartTakesOwnSlotsBack(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	a := newReplica(t, db, "a", time.Hour)
	b := newReplica(t, db, "b", time.Hour)
	rounds(t, []int{8, 8}, a, b)
	held := a.h.slots()

	// a is killed and started again: a new process, same id, empty router.
	again := New(Options{DB: db, Name: "a", Lease: time.Hour, Slots: testSlots, ID: a.m.ID(), Registerer: prometheus.NewRegistry()})
	restarted := &replica{t: t, m: again, h: &holder{held: map[int]bool{}}}
	restarted.beat()
	if got := restarted.h.slots(); !slices.Equal(got, held) {
		t.Fatalf("after the restart the router got %v, want the previous process's %v", got, held)
	}
	rounds(t, []int{8, 8}, restarted, b)
}
