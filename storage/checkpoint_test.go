package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// TestSQLiteAutoCheckpointOff checks that every connection of the pool,
// not only the first, has SQLite's automatic checkpoint off: one left on
// would checkpoint inside a commit again.
func TestSQLiteAutoCheckpointOff(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Held together, so that each is a distinct connection.
	for i := range 4 {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var pages int
		if err := conn.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if pages != 0 {
			t.Fatalf("connection %d: wal_autocheckpoint = %d, want 0", i, pages)
		}
	}
}

// TestSQLiteBackgroundCheckpoint checks that what is committed reaches the
// database file without anyone asking: in WAL mode commits only append to
// the log, and the database file changes only when the log is
// checkpointed. The test writes less than SQLite's default automatic
// checkpoint threshold (1,000 pages), never checkpoints itself and keeps
// the store open (closing the last connection would checkpoint), so the
// file can only grow by the store's background checkpointer.
func TestSQLiteBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.Open(ctx, storage.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	file := filepath.Join(dir, "klaxon.db")
	size := func(name string) int64 {
		t.Helper()
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	before := size(file)

	// About 1.5 MB (some 400 pages of 4 KiB) in 15 transactions.
	const rows, rowBytes, perTx = 150, 10 << 10, 10
	text := strings.Repeat("x", rowBytes)
	for i := 0; i < rows; i += perTx {
		err := db.InTx(ctx, func(tx *storage.Tx) error {
			for j := i; j < i+perTx; j++ {
				if _, err := tx.Exec(ctx, `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout)
					VALUES (?, ?, '{}', 0, 0, '', 0, ?)`, fmt.Sprintf("ckpt-%d", j), text, false); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The file grows by checkpoints only in WAL mode; in another journal
	// mode the writes themselves would grow it.
	var mode string
	if err := db.QueryRow(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %s, want wal", mode)
	}

	// Generous: the checkpointer runs within checkpointQuiet (5 s) of
	// these few commits.
	want := before + rows*rowBytes
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := size(file)
		if got >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file is %d bytes, was %d before writing %d bytes: the log was not checkpointed", got, before, rows*rowBytes)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The rows are all there, read back through the database.
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM alerts WHERE fingerprint LIKE 'ckpt-%' AND length(labels) = ?`, rowBytes).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != rows {
		t.Fatalf("%d rows read back, want %d", n, rows)
	}
}
