package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klaxon-dev/klaxon/storage"
)

// TestCloseReleasesFiles checks that Close returns only once every
// connection is closed, including those that statements seen for the first
// time take to be prepared in the background: SQLite removes its log and
// shared-memory files when its last connection closes, so none must be left
// when Close returns (a late one kept writing them while a test's temporary
// directory was being removed).
func TestCloseReleasesFiles(t *testing.T) {
	ctx := context.Background()
	for round := range 10 {
		dir := t.TempDir()
		db, err := storage.Open(ctx, storage.Options{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			var n int
			// A new text each time: each starts a prepare in the background.
			if err := db.QueryRow(ctx, fmt.Sprintf("SELECT %d + ?", i), round).Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(filepath.Join(dir, "klaxon.db"+suffix)); err == nil {
				t.Fatalf("round %d: klaxon.db%s still there after Close", round, suffix)
			}
		}
	}
}
