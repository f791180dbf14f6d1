package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// hookLog records the calls of a transaction's hooks, and what another
// connection saw of the transaction's write at each.
type hookLog struct {
	mu     sync.Mutex
	events []string
}

func (l *hookLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *hookLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

const insertAlert = `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout)
	VALUES (?, '{}', '{}', 0, 0, '', 0, ?)`

// rows counts the alerts with fingerprint fp as seen by conn, which is not
// the transaction's connection: what it sees is what others see.
func rows(ctx context.Context, db *storage.DB, conn *sql.Conn, fp string) string {
	var n int
	if err := conn.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM alerts WHERE fingerprint = ?`), fp).Scan(&n); err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprint(n)
}

// otherConn holds a connection of its own for the test, so that reads in
// the hooks cannot be served by the transaction's connection.
func otherConn(t *testing.T, db *storage.DB) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// register adds the hooks under test to tx, logging each call and what
// another connection sees of fp at the time.
func register(ctx context.Context, tx *storage.Tx, db *storage.DB, conn *sql.Conn, fp string, log *hookLog) {
	tx.OnCommitted(func() { log.add("committed, visible " + rows(ctx, db, conn, fp)) })
	tx.OnDone(func(ok bool) { log.add(fmt.Sprintf("done(%v), visible %s", ok, rows(ctx, db, conn, fp))) })
	// A second OnDone runs as well: hooks are a list, not a slot.
	tx.OnDone(func(ok bool) { log.add(fmt.Sprintf("second done(%v)", ok)) })
}

// TestHooksOnCommit checks that after a commit OnCommitted runs, then
// OnDone(true), each once and before InTx returns, with the transaction's
// write visible to another connection at both.
func TestHooksOnCommit(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		conn := otherConn(t, db)
		for name, run := range map[string]func(context.Context, func(*storage.Tx) error) error{
			"InTx":        db.InTx,
			"InTxRelaxed": db.InTxRelaxed,
			"InTxDeferred": func(ctx context.Context, fn func(*storage.Tx) error) error {
				wait, err := db.InTxDeferred(ctx, fn)
				if err != nil {
					return err
				}
				return wait()
			},
		} {
			t.Run(name, func(t *testing.T) {
				fp := "hooks-commit-" + name
				var log hookLog
				err := run(ctx, func(tx *storage.Tx) error {
					register(ctx, tx, db, conn, fp, &log)
					if got := log.get(); len(got) != 0 {
						t.Errorf("hooks ran when registered: %q", got)
					}
					_, err := tx.Exec(ctx, insertAlert, fp, false)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"committed, visible 1", "done(true), visible 1", "second done(true)"}
				if got := log.get(); !slices.Equal(got, want) {
					t.Fatalf("hooks ran as %q, want %q", got, want)
				}
			})
		}
	})
}

// TestInTxDeferred checks the two steps of InTxDeferred and
// InTxDeferredStrict: the write is visible and OnCommitted has run when
// they return, OnDone only once wait returned. On PostgreSQL
// InTxDeferred's commit is asynchronous and InTxDeferredStrict's
// synchronous (an asynchronous commit is visible to others before it is
// durable), and the connection's later commits are synchronous again.
func TestInTxDeferred(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		conn := otherConn(t, db)
		for _, c := range []struct {
			name     string
			inTx     func(context.Context, func(*storage.Tx) error) (func() error, error)
			syncInTx string // synchronous_commit inside, on PostgreSQL
		}{
			{"deferred", db.InTxDeferred, "off"},
			{"strict", db.InTxDeferredStrict, "on"},
		} {
			var (
				log     hookLog
				setting string
			)
			wait, err := c.inTx(ctx, func(tx *storage.Tx) error {
				register(ctx, tx, db, conn, c.name, &log)
				if db.Dialect() == storage.Postgres {
					if err := tx.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
						return err
					}
				}
				_, err := tx.Exec(ctx, insertAlert, c.name, false)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := log.get(), []string{"committed, visible 1"}; !slices.Equal(got, want) {
				t.Fatalf("%s: before wait, hooks ran as %q, want %q", c.name, got, want)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			want := []string{"committed, visible 1", "done(true), visible 1", "second done(true)"}
			if got := log.get(); !slices.Equal(got, want) {
				t.Fatalf("%s: after wait, hooks ran as %q, want %q", c.name, got, want)
			}
			if db.Dialect() != storage.Postgres {
				continue
			}
			if setting != c.syncInTx {
				t.Errorf("%s: synchronous_commit = %s in the transaction, want %s", c.name, setting, c.syncInTx)
			}
			if err := db.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
				t.Fatal(err)
			}
			if setting != "on" {
				t.Fatalf("%s: synchronous_commit = %s after the transaction, want on", c.name, setting)
			}
		}
	})
}

// TestHooksOnFnError checks that when fn fails, the transaction's write is
// rolled back, OnCommitted never runs and OnDone runs once with false.
func TestHooksOnFnError(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		conn := otherConn(t, db)
		fail := errors.New("fn failed")
		var log hookLog
		err := db.InTx(ctx, func(tx *storage.Tx) error {
			register(ctx, tx, db, conn, "hooks-fail", &log)
			if _, err := tx.Exec(ctx, insertAlert, "hooks-fail", false); err != nil {
				return err
			}
			return fail
		})
		if !errors.Is(err, fail) {
			t.Fatalf("InTx returned %v, want the error of fn", err)
		}
		want := []string{"done(false), visible 0", "second done(false)"}
		if got := log.get(); !slices.Equal(got, want) {
			t.Fatalf("hooks ran as %q, want %q", got, want)
		}
	})
}

// TestHooksOnCommitFailure checks that when fn succeeds but the commit
// fails, OnCommitted never runs and OnDone runs once with false.
func TestHooksOnCommitFailure(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		conn := otherConn(t, db)
		cases := map[string]func(tx *storage.Tx) error{
			// The transaction is over before InTx commits it.
			"already rolled back": func(tx *storage.Tx) error { return tx.Rollback() },
		}
		if db.Dialect() == storage.Postgres {
			// A failed statement whose error fn ignores aborts the
			// transaction; PostgreSQL then answers COMMIT with a
			// rollback, which the driver reports as an error.
			cases["aborted"] = func(tx *storage.Tx) error {
				_, _ = tx.Exec(ctx, `SELECT no_such_column FROM alerts`)
				return nil
			}
		}
		for name, before := range cases {
			t.Run(name, func(t *testing.T) {
				fp := "hooks-commit-failure-" + name
				var log hookLog
				err := db.InTx(ctx, func(tx *storage.Tx) error {
					register(ctx, tx, db, conn, fp, &log)
					if _, err := tx.Exec(ctx, insertAlert, fp, false); err != nil {
						return err
					}
					return before(tx)
				})
				if err == nil {
					t.Fatal("InTx reported success for a transaction that did not commit")
				}
				want := []string{"done(false), visible 0", "second done(false)"}
				if got := log.get(); !slices.Equal(got, want) {
					t.Fatalf("hooks ran as %q, want %q", got, want)
				}
			})
		}
	})
}
