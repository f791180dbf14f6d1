package storage

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWALSyncer checks the group commit of the write-ahead log: every
// caller returns only after a sync that started after its call ended,
// callers
// arriving during a sync share the next one, and a failed sync fails the
// callers it was to cover and no later one.
func TestWALSyncer(t *testing.T) {
	w := newWALSyncer(t.TempDir() + "/klaxon.db")
	var (
		syncs atomic.Int64
		mu    sync.Mutex
		spans [][2]time.Time // start and end of each sync
		fail  atomic.Bool
	)
	w.syncFn = func(string, uint64) (uint64, error) {
		start := time.Now()
		syncs.Add(1)
		time.Sleep(2 * time.Millisecond) // a disk that takes its time
		mu.Lock()
		spans = append(spans, [2]time.Time{start, time.Now()})
		mu.Unlock()
		if fail.Load() {
			return 0, errors.New("disk on fire")
		}
		return 1, nil
	}
	const callers = 50
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			called := time.Now()
			if err := w.sync(); err != nil {
				t.Error(err)
				return
			}
			returned := time.Now()
			// A sync that started after the call ended before the return.
			mu.Lock()
			defer mu.Unlock()
			covered := false
			for _, s := range spans {
				covered = covered || (!s[0].Before(called) && !s[1].After(returned))
			}
			if !covered {
				t.Error("returned without a sync that started after the call")
			}
		})
	}
	wg.Wait()
	if n := syncs.Load(); n >= callers {
		t.Errorf("%d syncs for %d concurrent callers, want them shared", n, callers)
	}

	fail.Store(true)
	if err := w.sync(); err == nil {
		t.Fatal("a failed sync was reported as success")
	}
	fail.Store(false)
	if err := w.sync(); err != nil {
		t.Fatalf("the sync after a failure: %v", err)
	}
}

// TestSyncFile checks the real fsync path: an existing file and its
// directory are synced, a missing file is not an error.
func TestSyncFile(t *testing.T) {
	dir := t.TempDir()
	db, err := openSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(t.Context(), `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if err := db.InTx(t.Context(), func(tx *Tx) error {
		_, err := tx.Exec(t.Context(), `INSERT INTO t (x) VALUES (1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if db.wal.inode == 0 {
		t.Error("the write-ahead log was not synced")
	}
	if _, err := syncFile(dir+"/missing-wal", 0); err != nil {
		t.Errorf("missing file: %v", err)
	}
}
