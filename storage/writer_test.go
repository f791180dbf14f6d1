package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// TestConcurrentWriters checks that writers on many goroutines, in
// transactions and in single statements, all commit and none is lost.
func TestConcurrentWriters(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout)
			VALUES ('counter', '{}', '{}', 0, 0, '', 0, ?)`, false); err != nil {
			t.Fatal(err)
		}
		const writers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					var err error
					if (w+i)%2 == 0 {
						_, err = db.Exec(ctx, `UPDATE alerts SET ends_at = ends_at + 1 WHERE fingerprint = 'counter'`)
					} else {
						err = db.InTx(ctx, func(tx *storage.Tx) error {
							_, err := tx.Exec(ctx, `UPDATE alerts SET ends_at = ends_at + 1 WHERE fingerprint = 'counter'`)
							return err
						})
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT ends_at FROM alerts WHERE fingerprint = 'counter'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != writers*each {
			t.Fatalf("counter = %d, want %d", n, writers*each)
		}
	})
}

// TestInTxRelaxed checks that a relaxed transaction commits and rolls back
// like any other, and on PostgreSQL leaves the connection's commits
// synchronous.
func TestInTxRelaxed(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		// One connection, so that the check below reads the one the
		// relaxed transaction used.
		db.SetMaxOpenConns(1)
		insert := func(fp string, fail error) error {
			return db.InTxRelaxed(ctx, func(tx *storage.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout)
					VALUES (?, '{}', '{}', 0, 0, '', 0, ?)`, fp, false); err != nil {
					return err
				}
				return fail
			})
		}
		if err := insert("kept", nil); err != nil {
			t.Fatal(err)
		}
		if err := insert("rolled-back", errors.New("no")); err == nil {
			t.Fatal("the error of fn was not returned")
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM alerts WHERE fingerprint IN ('kept', 'rolled-back')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%d rows, want the committed one only", n)
		}
		if db.Dialect() != storage.Postgres {
			return // SQLite: InTx itself (see TestWALSyncer)
		}
		var setting string
		if err := db.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != "on" {
			t.Fatalf("synchronous_commit = %s after a relaxed transaction, want on", setting)
		}
	})
}
