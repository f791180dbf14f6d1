package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// The contract every backend must keep for the domain packages' queries.
func TestContract(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()

		t.Run("migrations applied", func(t *testing.T) {
			for _, table := range []string{"alerts", "alert_groups", "nflog", "incidents", "incident_alerts", "incident_events", "outbox"} {
				var n int
				if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
					t.Errorf("table %s: %v", table, err)
				}
			}
		})

		t.Run("returning ids in order", func(t *testing.T) {
			var ids []int64
			err := db.InTx(ctx, func(tx *storage.Tx) error {
				for i := 0; i < 3; i++ {
					var id int64
					if err := tx.QueryRow(ctx, `INSERT INTO incidents (group_id, group_key, receiver, title, status, labels, opened_at, updated_at)
						VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, []string{"g0", "g1", "g2"}[i], "{}:{}", "r", "t", "triggered", "{}", 1, 1).Scan(&id); err != nil {
						return err
					}
					ids = append(ids, id)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !(ids[0] > 0 && ids[0] < ids[1] && ids[1] < ids[2]) {
				t.Fatalf("ids = %v, want increasing positive", ids)
			}
		})

		t.Run("rollback leaves nothing", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(tx *storage.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO nflog (group_id, receiver, firing, resolved, sent_at, expires_at) VALUES (?, ?, '[]', '[]', 1, 2)`, "rolled", "r"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx error = %v, want boom", err)
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM nflog WHERE group_id = ?`, "rolled").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("rolled-back row is visible")
			}
		})

		t.Run("upsert and booleans", func(t *testing.T) {
			for _, flushed := range []bool{false, true} {
				_, err := db.Exec(ctx, `INSERT INTO alert_groups (id, route_id, group_key, receiver, labels, created_at, next_flush_at, flushed)
					VALUES (?, 'r', 'k', 'recv', '{}', 1, 2, ?) ON CONFLICT (id) DO UPDATE SET flushed = excluded.flushed`, "g1", flushed)
				if err != nil {
					t.Fatal(err)
				}
				var got bool
				if err := db.QueryRow(ctx, `SELECT flushed FROM alert_groups WHERE id = ?`, "g1").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != flushed {
					t.Fatalf("flushed = %v, want %v", got, flushed)
				}
			}
		})

		t.Run("times round trip in milliseconds", func(t *testing.T) {
			now := time.Date(2026, 11, 25, 12, 0, 0, 123_000_000, time.UTC)
			if got := storage.Time(storage.Millis(now)); !got.Equal(now) {
				t.Fatalf("round trip %v -> %v", now, got)
			}
			if !storage.Time(storage.Millis(time.Time{})).IsZero() {
				t.Fatal("zero time does not survive")
			}
		})
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.Open(ctx, storage.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO nflog (group_id, receiver, firing, resolved, sent_at, expires_at) VALUES ('g', 'r', '[1]', '[]', 1, 2)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Opening again must not re-run migrations over existing data.
	db, err = storage.Open(ctx, storage.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var firing string
	if err := db.QueryRow(ctx, `SELECT firing FROM nflog WHERE group_id = 'g'`).Scan(&firing); err != nil || firing != "[1]" {
		t.Fatalf("after reopen: firing=%q err=%v", firing, err)
	}
}

func TestRebind(t *testing.T) {
	q := "SELECT a FROM t WHERE x = ? AND y IN (?, ?)"
	if got := storage.Rebind(storage.SQLite, q); got != q {
		t.Errorf("sqlite rebind changed the query: %s", got)
	}
	if got, want := storage.Rebind(storage.Postgres, q), "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)"; got != want {
		t.Errorf("postgres rebind = %s, want %s", got, want)
	}
}

func TestRedact(t *testing.T) {
	got := storage.Redact("postgres://klaxon:s3cret@db:5432/klaxon?sslmode=disable")
	if got != "postgres://klaxon:xxxxx@db:5432/klaxon?sslmode=disable" {
		t.Fatalf("Redact = %s", got)
	}
}
