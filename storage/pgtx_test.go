package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// openTransactions counts the sessions of the test's database that sit
// inside a transaction: a connection given back to the pool in one would
// run the next caller's statements in it. It is 0 on SQLite.
func openTransactions(t *testing.T, db *storage.DB) int {
	t.Helper()
	if db.Dialect() != storage.Postgres {
		return 0
	}
	var n int
	err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestExecLater checks that statements queued with ExecLater are part of
// their transaction: seen by its later statements, committed with it,
// rolled back with it, and that a failing one fails the transaction with
// its own error and leaves no connection inside a transaction.
func TestExecLater(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		conn := otherConn(t, db)

		t.Run("committed", func(t *testing.T) {
			err := db.InTx(ctx, func(tx *storage.Tx) error {
				if err := tx.ExecLater(ctx, insertAlert, "later-1", false); err != nil {
					return err
				}
				var n int
				if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM alerts WHERE fingerprint = ?`, "later-1").Scan(&n); err != nil {
					return err
				}
				if n != 1 {
					t.Errorf("the transaction sees %d rows of its queued insert, want 1", n)
				}
				if got := rows(ctx, db, conn, "later-1"); got != "0" {
					t.Errorf("before the commit others see %s rows, want 0", got)
				}
				return tx.ExecLater(ctx, insertAlert, "later-2", true)
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, fp := range []string{"later-1", "later-2"} {
				if got := rows(ctx, db, conn, fp); got != "1" {
					t.Errorf("after the commit %s has %s rows, want 1", fp, got)
				}
			}
		})

		t.Run("queued statement fails", func(t *testing.T) {
			for _, next := range []string{"commit", "exec", "query row", "query"} {
				fp := "later-fails-" + strings.ReplaceAll(next, " ", "-")
				err := db.InTx(ctx, func(tx *storage.Tx) error {
					if err := tx.ExecLater(ctx, insertAlert, fp, false); err != nil {
						return err
					}
					if err := tx.ExecLater(ctx, `INSERT INTO no_such_table (x) VALUES (1)`); err != nil {
						return err // SQLite: at once
					}
					var err error
					switch next {
					case "exec":
						_, err = tx.Exec(ctx, `UPDATE alerts SET timeout = ? WHERE fingerprint = ?`, true, fp)
					case "query row":
						var n int
						err = tx.QueryRow(ctx, `SELECT COUNT(*) FROM alerts`).Scan(&n)
					case "query":
						var rs *sql.Rows
						if rs, err = tx.Query(ctx, `SELECT fingerprint FROM alerts`); err == nil {
							rs.Close()
						}
					}
					return err
				})
				if err == nil || !strings.Contains(err.Error(), "no_such_table") {
					t.Errorf("%s after a failing queued statement: InTx returned %v, want the statement's error", next, err)
				}
				if got := rows(ctx, db, conn, fp); got != "0" {
					t.Errorf("%s: %s rows of the failed transaction are visible, want 0", next, got)
				}
			}
			if n := openTransactions(t, db); n != 0 {
				t.Errorf("%d connections were left inside a transaction", n)
			}
		})

		t.Run("ignored failure does not commit", func(t *testing.T) {
			if db.Dialect() != storage.Postgres {
				// SQLite undoes the failed statement alone; the
				// transaction goes on.
				return
			}
			fp := "later-ignored"
			err := db.InTx(ctx, func(tx *storage.Tx) error {
				_ = tx.ExecLater(ctx, insertAlert, fp, false)
				_, _ = tx.Exec(ctx, `SELECT no_such_column FROM alerts`)
				return nil
			})
			if err == nil {
				t.Error("InTx reported success for a transaction with a failed statement")
			}
			if got := rows(ctx, db, conn, fp); got != "0" {
				t.Errorf("%s rows are visible, want 0", got)
			}
		})

		t.Run("rolled back", func(t *testing.T) {
			fail := errors.New("fn failed")
			for _, sent := range []bool{false, true} {
				fp := "later-rolled-back"
				err := db.InTx(ctx, func(tx *storage.Tx) error {
					if err := tx.ExecLater(ctx, insertAlert, fp, false); err != nil {
						return err
					}
					if sent {
						if _, err := tx.Exec(ctx, `UPDATE alerts SET timeout = ? WHERE fingerprint = ?`, true, fp); err != nil {
							return err
						}
					}
					return fail
				})
				if !errors.Is(err, fail) {
					t.Fatalf("InTx returned %v, want fn's error", err)
				}
				if got := rows(ctx, db, conn, fp); got != "0" {
					t.Errorf("sent %v: %s rows of a rolled back transaction are visible, want 0", sent, got)
				}
			}
			if n := openTransactions(t, db); n != 0 {
				t.Errorf("%d connections were left inside a transaction", n)
			}
		})

		t.Run("context ends", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			fp := "later-canceled"
			err := db.InTx(cctx, func(tx *storage.Tx) error {
				if err := tx.ExecLater(cctx, insertAlert, fp, false); err != nil {
					return err
				}
				cancel()
				_, err := tx.Exec(cctx, `UPDATE alerts SET timeout = ? WHERE fingerprint = ?`, true, fp)
				return err
			})
			if err == nil {
				t.Fatal("InTx succeeded with its context canceled")
			}
			if got := rows(ctx, db, conn, fp); got != "0" {
				t.Errorf("%s rows are visible, want 0", got)
			}
			if n := openTransactions(t, db); n != 0 {
				t.Errorf("%d connections were left inside a transaction", n)
			}
			// The pool still serves transactions.
			if err := db.InTx(ctx, func(tx *storage.Tx) error { return tx.ExecLater(ctx, insertAlert, fp, false) }); err != nil {
				t.Fatal(err)
			}
			if got := rows(ctx, db, conn, fp); got != "1" {
				t.Errorf("after a new transaction %s rows, want 1", got)
			}
		})
	})
}

// TestTxQueryRowScansAsDB checks that a row read inside a transaction
// (on PostgreSQL, in a batch with queued statements, and decoded by pgx)
// scans into the same values, and fails on the same rows, as one read
// through database/sql.
func TestTxQueryRowScansAsDB(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout)
			VALUES ('scan-1', '{"a":"b"}', '{}', 5, 0, 'http://x', 1234567890123, TRUE)`); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			q    string
			dest func() []any
		}{
			{`SELECT COUNT(*) FROM alerts WHERE fingerprint = ?`, func() []any { return []any{new(int)} }},
			{`SELECT COUNT(*) FROM alerts WHERE fingerprint = ?`, func() []any { return []any{new(int64)} }},
			{`SELECT COALESCE(SUM(updated_at), 0), COUNT(*) FROM alerts WHERE fingerprint = ?`, func() []any { return []any{new(int64), new(int)} }},
			{`SELECT MAX(updated_at) FROM alerts WHERE fingerprint = ?`, func() []any { return []any{new(sql.NullInt64)} }},
			{`SELECT MAX(generator_url) FROM alerts WHERE fingerprint = ? AND timeout = FALSE`, func() []any { return []any{new(sql.NullString)} }},
			{`SELECT labels, generator_url FROM alerts WHERE fingerprint = ?`, func() []any { return []any{new(string), new([]byte)} }},
			{`SELECT timeout, starts_at, ends_at FROM alerts WHERE fingerprint = ?`, func() []any { return []any{new(bool), new(int64), new(int)} }},
			{`SELECT EXISTS (SELECT 1 FROM alerts WHERE fingerprint = ?)`, func() []any { return []any{new(bool)} }},
			{`SELECT fingerprint FROM alerts WHERE fingerprint = ? AND timeout = FALSE`, func() []any { return []any{new(string)} }},
			{`SELECT MAX(generator_url) FROM alerts WHERE fingerprint = ? AND timeout = FALSE`, func() []any { return []any{new(string)} }},
		}
		for _, c := range cases {
			want := c.dest()
			wantErr := db.QueryRow(ctx, c.q, "scan-1").Scan(want...)
			got := c.dest()
			var gotErr error
			err := db.InTx(ctx, func(tx *storage.Tx) error {
				// Queued first, so that on PostgreSQL the read goes in a batch.
				if err := tx.ExecLater(ctx, `UPDATE alerts SET annotations = '{}' WHERE fingerprint = ?`, "scan-1"); err != nil {
					return err
				}
				gotErr = tx.QueryRow(ctx, c.q, "scan-1").Scan(got...)
				return nil
			})
			if err != nil && wantErr == nil {
				t.Fatalf("%s: %v", c.q, err)
			}
			switch {
			case (gotErr == nil) != (wantErr == nil):
				t.Errorf("%s: scan in a transaction: %v; through database/sql: %v", c.q, gotErr, wantErr)
			case errors.Is(wantErr, sql.ErrNoRows) != errors.Is(gotErr, sql.ErrNoRows):
				t.Errorf("%s: scan in a transaction: %v; through database/sql: %v", c.q, gotErr, wantErr)
			case wantErr == nil && !reflect.DeepEqual(got, want):
				t.Errorf("%s: scanned %v in a transaction, %v through database/sql", c.q, deref(got), deref(want))
			}
		}
	})
}

func deref(ps []any) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		out[i] = reflect.ValueOf(p).Elem().Interface()
	}
	return out
}

// TestQueryRowLater checks that a queued statement's row reaches its
// destinations by the time the transaction's hooks run, and that a
// failing one fails the transaction.
func TestQueryRowLater(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		conn := otherConn(t, db)
		var (
			fp      string
			timeout bool
			seen    string
		)
		err := db.InTx(ctx, func(tx *storage.Tx) error {
			if err := tx.ExecLater(ctx, insertAlert, "row-later", true); err != nil {
				return err
			}
			_, err := tx.QueryRowLater(ctx, []any{&fp, &timeout},
				`UPDATE alerts SET generator_url = ? WHERE fingerprint = ? RETURNING fingerprint, timeout`, "http://x", "row-later")
			if err != nil {
				return err
			}
			tx.OnDone(func(committed bool) { seen = fmt.Sprint(committed, " ", fp, " ", timeout) })
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen != "true row-later true" {
			t.Errorf("the hook saw %q, want the committed row", seen)
		}
		if got := rows(ctx, db, conn, "row-later"); got != "1" {
			t.Errorf("%s rows committed, want 1", got)
		}

		var n int
		err = db.InTx(ctx, func(tx *storage.Tx) error {
			if err := tx.ExecLater(ctx, insertAlert, "row-later-failed", false); err != nil {
				return err
			}
			_, err := tx.QueryRowLater(ctx, []any{&n}, `SELECT COUNT(*) FROM no_such_table`)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "no_such_table") {
			t.Errorf("InTx returned %v, want the failing statement's error", err)
		}
		if got := rows(ctx, db, conn, "row-later-failed"); got != "0" {
			t.Errorf("%s rows of the failed transaction are visible, want 0", got)
		}
	})
}
