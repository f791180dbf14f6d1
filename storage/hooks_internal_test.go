package storage

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestHooksAroundSync checks, on SQLite, where InTx waits for the sync of
// the write-ahead log, that OnCommitted runs before that wait and OnDone
// after it, with true when the sync succeeded and false when it failed (the
// commit happened, but it is not durable, so InTx fails).
func TestHooksAroundSync(t *testing.T) {
	for _, syncErr := range []error{nil, errors.New("disk gone")} {
		name := "sync ok"
		if syncErr != nil {
			name = "sync failed"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// Opened directly: storagetest imports this package, so an
			// internal test cannot use it.
			db, err := Open(ctx, Options{Path: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var (
				mu     sync.Mutex
				events []string
			)
			add := func(e string) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}
			realSync := db.wal.syncFn
			db.wal.syncFn = func(path string, inode uint64) (uint64, error) {
				add("sync")
				if syncErr != nil {
					return inode, syncErr
				}
				return realSync(path, inode)
			}
			err = db.InTx(ctx, func(tx *Tx) error {
				tx.OnCommitted(func() { add("committed") })
				tx.OnDone(func(ok bool) {
					if ok {
						add("done(true)")
					} else {
						add("done(false)")
					}
				})
				_, err := tx.Exec(ctx, `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout)
					VALUES ('hooks-sync', '{}', '{}', 0, 0, '', 0, 0)`)
				return err
			})
			want := []string{"committed", "sync", "done(true)"}
			if syncErr != nil {
				if !errors.Is(err, syncErr) {
					t.Fatalf("InTx returned %v, want the sync error", err)
				}
				want = []string{"committed", "sync", "done(false)"}
			} else if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(events, want) {
				t.Fatalf("ran as %q, want %q", events, want)
			}
		})
	}
}
