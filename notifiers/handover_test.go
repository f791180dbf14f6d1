package notifiers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/fakes/webhooktest"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/receiver"
	"github.com/klaxon-dev/klaxon/storage"
)

// TestHandOver covers Enqueue handing a row straight to a worker of a
// running outbox once the enqueuing transaction is durable, instead of
// leaving it for a claim, on each backend.
func TestHandOver(t *testing.T) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, h *harness)
	}{
		{"DeliversCommittedWithoutClaim", testHandOverDeliversCommitted},
		{"RollbackGivesSlotBack", testHandOverRollbackGivesSlotBack},
		{"RespectsReceiverShare", testHandOverRespectsReceiverShare},
		{"WaitsForGroupInFlight", testHandOverWaitsForGroupInFlight},
		{"NotWhenNeverStarted", testHandOverNotWhenNeverStarted},
		{"NotWhenStopped", testHandOverNotWhenStopped},
		{"NotInRelaxedTransaction", testHandOverNotInRelaxedTransaction},
	} {
		t.Run(c.name, func(t *testing.T) {
			storagetest.ForEach(t, func(t *testing.T, db *storage.DB) { c.test(t, newHarness(t, db)) })
		})
	}
}

var errRollback = errors.New("the caller's transaction fails after Enqueue")

// enqueueIn enqueues m in a transaction of its own, rolled back if rollback
// is set, and returns m's row as that transaction saw it right after
// Enqueue. Only there is a hand-over ('sending', one attempt) told apart
// from a row left to a claim ('pending', none) for certain: no worker can
// touch the row before the transaction ends. It does not poke the workers,
// so that a row is delivered only through what Enqueue arranged itself.
func (h *harness) enqueueIn(m *notifiers.Message, rollback bool) rowState {
	h.t.Helper()
	var r rowState
	err := h.db.InTx(h.ctx, func(tx *storage.Tx) error {
		if err := h.outbox.Enqueue(h.ctx, tx, m); err != nil {
			return err
		}
		if err := tx.QueryRow(h.ctx, `SELECT id, status, attempts, next_attempt_at, last_error FROM outbox
			WHERE receiver = ? ORDER BY id DESC LIMIT 1`, m.Receiver).
			Scan(&r.ID, &r.Status, &r.Attempts, &r.NextAttemptAt, &r.LastError); err != nil {
			return err
		}
		if rollback {
			return errRollback
		}
		return nil
	})
	switch {
	case rollback && !errors.Is(err, errRollback):
		h.t.Fatalf("enqueue transaction: %v, want it rolled back by %v", err, errRollback)
	case !rollback && err != nil:
		h.t.Fatalf("enqueue transaction: %v", err)
	}
	return r
}

// retune replaces the harness's outbox, before it runs, by one with the
// given tuning, small enough that a worker slot lost would show as a
// notification never sent. Its metrics stay unregistered: h.reg holds the
// replaced outbox's.
func (h *harness) retune(workers, perReceiver int) {
	h.outbox = notifiers.NewOutbox(notifiers.OutboxOptions{
		DB: h.db, Clock: h.clock, Build: receiver.Build,
		Logger:  slog.New(slog.NewTextHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Workers: workers, MaxPerReceiver: perReceiver, Lease: time.Minute, SendTimeout: 5 * time.Second,
		OnResult: h.onResult,
	})
	h.applyConfig(h.outbox, "team", "quiet", "dead", "nobody")
}

// startRunning starts the workers and returns once Run is under way: the
// barrier's notification is sent only by a running outbox, by a hand-over
// or a claim, so Enqueue may hand over from then on. Without it the first
// Enqueue could race Run's start and test the old path.
func (h *harness) startRunning() {
	h.t.Helper()
	h.start()
	h.barrier()
}

// runStoppable runs the harness's outbox until the returned function is
// called, which returns once Run has.
func (h *harness) runStoppable() (stop func()) {
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.outbox.Run(ctx)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	h.t.Cleanup(stop)
	return stop
}

func wantRow(t *testing.T, what string, r rowState, status string, attempts int) {
	t.Helper()
	if r.Status != status || r.Attempts != attempts {
		t.Fatalf("%s: row %+v, want %s with %d attempts", what, r, status, attempts)
	}
}

func testHandOverDeliversCommitted(t *testing.T, h *harness) {
	h.startRunning()
	// A claim would find the row pending after the commit; handed over, it
	// is already claimed by the transaction that wrote it.
	seen := h.enqueueIn(h.message("team", "g", "1"), false)
	wantRow(t, "inside the enqueuing transaction", seen, "sending", 1)

	row := h.waitRow("team", 0, "sent")
	if row.ID != seen.ID || row.Attempts != 1 {
		t.Errorf("row = %+v, want row %d sent on its one attempt", row, seen.ID)
	}
	// Another poll must not take the handed-over row a second time.
	h.barrier()
	if got := steps(t, h.servers["team"]); !slices.Equal(got, []string{"1"}) {
		t.Errorf("team received %v, want [1]", got)
	}
	if rs := h.resultsFor(row.ID); len(rs) != 1 || rs[0].Outcome != notifiers.OutcomeSent || rs[0].Attempt != 1 {
		t.Errorf("results = %+v, want one sent attempt", rs)
	}
}

func testHandOverRollbackGivesSlotBack(t *testing.T, h *harness) {
	// Team's share is one worker: a slot kept by the rolled-back hand-over
	// would leave it none. The other worker lets the barrier's send, whose
	// slot is given back only after its outcome is recorded, not stand in
	// the way of the hand-over.
	const workers = 2
	h.retune(workers, 1)
	h.startRunning()
	seen := h.enqueueIn(h.message("team", "g", "rolled back"), true)
	// Otherwise no slot was taken and the test proves nothing.
	wantRow(t, "inside the rolled-back transaction", seen, "sending", 1)
	if rows := h.rows("team"); len(rows) != 0 {
		t.Fatalf("rows after rollback = %+v, want none", rows)
	}

	var want []string
	for i := range workers + 1 {
		want = append(want, fmt.Sprint(i))
		h.enqueue(h.message("team", fmt.Sprint("g", i), want[i]))
	}
	h.waitFor("every notification after the rollback to be sent", func() bool {
		return slices.Equal(statuses(h.rows("team")), slices.Repeat([]string{"sent"}, workers+1))
	})
	got := steps(t, h.servers["team"])
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("team received %v, want %v and nothing of the rolled-back transaction", got, want)
	}
}

func testHandOverRespectsReceiverShare(t *testing.T, h *harness) {
	h.retune(4, 1)
	hold := make(chan struct{})
	defer close(hold)
	h.servers["team"].Script(webhooktest.Response{Hold: hold})
	h.startRunning()
	wantRow(t, "first notification", h.enqueueIn(h.message("team", "g1", "1"), false), "sending", 1)
	h.waitFor("the first request", func() bool { return len(h.servers["team"].Requests()) == 1 })

	// Workers are free, but team has its one send in flight.
	wantRow(t, "second notification, inside its transaction", h.enqueueIn(h.message("team", "g2", "2"), false), "pending", 0)
	h.barrier() // nor does a claim take it while the first is held
	if rows := h.rows("team"); len(rows) != 2 || rows[0].Status != "sending" || rows[1].Status != "pending" || rows[1].Attempts != 0 {
		t.Fatalf("rows = %+v; want the second waiting, unclaimed, for the first", rows)
	}

	hold <- struct{}{}
	row := h.waitRow("team", 1, "sent")
	if row.Attempts != 1 {
		t.Errorf("second row = %+v, want sent on one attempt", row)
	}
	if got := steps(t, h.servers["team"]); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("team received %v, want [1 2]", got)
	}
	if n := h.servers["team"].MaxInFlight(); n != 1 {
		t.Errorf("%d sends to team in flight at once, want its share of 1", n)
	}
}

func testHandOverWaitsForGroupInFlight(t *testing.T, h *harness) {
	// The harness's tuning: team's share is 2 of 4 workers, so only the
	// group's send in flight keeps the second notification from a worker.
	hold := make(chan struct{})
	defer close(hold)
	h.servers["team"].Script(webhooktest.Response{Hold: hold})
	h.startRunning()
	wantRow(t, "first notification", h.enqueueIn(h.message("team", "g", "1"), false), "sending", 1)
	h.waitFor("the first request", func() bool { return len(h.servers["team"].Requests()) == 1 })

	wantRow(t, "same group, inside its transaction", h.enqueueIn(h.message("team", "g", "2"), false), "pending", 0)
	// The slot the refused hand-over took is back: another group of team
	// is handed over and sent while the first is still held.
	wantRow(t, "other group", h.enqueueIn(h.message("team", "other", "x"), false), "sending", 1)
	h.waitRow("team", 2, "sent")
	if rows := h.rows("team"); rows[0].Status != "sending" || rows[1].Status != "pending" || rows[1].Attempts != 0 {
		t.Fatalf("rows = %+v; want the group's second notification waiting, unclaimed, for the first", rows)
	}

	hold <- struct{}{}
	row := h.waitRow("team", 1, "sent")
	if row.Attempts != 1 {
		t.Errorf("second row = %+v, want sent on one attempt", row)
	}
	if got := steps(t, h.servers["team"]); !slices.Equal(got, []string{"1", "x", "2"}) {
		t.Errorf("team received %v, want [1 x 2]", got)
	}
}

func testHandOverNotWhenNeverStarted(t *testing.T, h *harness) {
	wantRow(t, "inside the enqueuing transaction", h.enqueueIn(h.message("team", "g", "1"), false), "pending", 0)
	wantRow(t, "after the commit", h.rows("team")[0], "pending", 0)
	h.start()
	if row := h.waitRow("team", 0, "sent"); row.Attempts != 1 {
		t.Errorf("row = %+v, want sent on one attempt", row)
	}
}

func testHandOverNotWhenStopped(t *testing.T, h *harness) {
	stop := h.runStoppable()
	h.barrier() // Run has run, so that stopping it is what is tested
	stop()
	wantRow(t, "inside the enqueuing transaction", h.enqueueIn(h.message("team", "g", "1"), false), "pending", 0)
	wantRow(t, "after the commit", h.rows("team")[0], "pending", 0)
	h.start()
	if row := h.waitRow("team", 0, "sent"); row.Attempts != 1 {
		t.Errorf("row = %+v, want sent on one attempt", row)
	}
	if got := steps(t, h.servers["team"]); !slices.Equal(got, []string{"1"}) {
		t.Errorf("team received %v, want [1]", got)
	}
}

// A relaxed transaction (PostgreSQL's InTxRelaxed) runs its OnDone hooks
// before its commit is durable, too early to send what it wrote: its row
// waits for a claim, which the commit's poke brings without the poll
// interval passing on the fake clock. On SQLite InTxRelaxed is InTx and
// the row is handed over.
func testHandOverNotInRelaxedTransaction(t *testing.T, h *harness) {
	h.startRunning()
	var (
		seen    rowState
		relaxed bool
	)
	err := h.db.InTxRelaxed(h.ctx, func(tx *storage.Tx) error {
		relaxed = tx.Relaxed()
		if err := h.outbox.Enqueue(h.ctx, tx, h.message("team", "g", "1")); err != nil {
			return err
		}
		return tx.QueryRow(h.ctx, `SELECT status, attempts FROM outbox WHERE receiver = 'team'`).
			Scan(&seen.Status, &seen.Attempts)
	})
	if err != nil {
		t.Fatal(err)
	}
	if relaxed {
		wantRow(t, "inside the relaxed transaction", seen, "pending", 0)
	} else {
		wantRow(t, "inside the transaction", seen, "sending", 1)
	}
	if row := h.waitRow("team", 0, "sent"); row.Attempts != 1 {
		t.Errorf("row = %+v, want sent on one attempt", row)
	}
}
