package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// walSyncer makes committed SQLite transactions durable with one fsync of
// the write-ahead log for all that committed before it started (group
// commit). SQLite runs with synchronous=NORMAL, under which a commit
// writes the log without waiting for the disk and SQLite syncs the log and
// database around checkpoints itself; InTx then waits here before it
// returns, so that what it reports committed survives a power failure, as
// with synchronous=FULL. Concurrent writers (ingest batches, flushes,
// outbox claims and results) share fsyncs instead of waiting for one each.
//
// fsync flushes a file's data whichever descriptor wrote it, so the log is
// opened by name for each sync: SQLite may remove the file when its last
// connection closes (checkpointing and syncing it first) and create a new
// one later.
type walSyncer struct {
	path   string
	syncFn func(path string, lastInode uint64) (inode uint64, err error) // syncFile

	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // generation of the last sync started
	done    uint64 // generation of the last sync finished
	running bool
	failed  uint64 // generation of the last sync that failed
	err     error  // its error
	inode   uint64 // of the log file last synced, to sync the directory once per file
}

func newWALSyncer(dbFile string) *walSyncer {
	w := &walSyncer{path: dbFile + "-wal", syncFn: syncFile}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// newBarrierSyncer is a walSyncer for PostgreSQL: a "sync" is barrier, a
// synchronous commit whose flush of PostgreSQL's log covers every commit
// made before it, the asynchronous ones included (the log is written in
// order). Concurrent callers share barriers as they share fsyncs on SQLite.
func newBarrierSyncer(barrier func() error) *walSyncer {
	w := &walSyncer{syncFn: func(string, uint64) (uint64, error) { return 0, barrier() }}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// sync returns once everything committed before it was called is on disk.
func (w *walSyncer) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A sync already running may have started before the caller's commit:
	// only one starting after this point covers it.
	target := w.started + 1
	for w.done < target {
		if w.running {
			w.cond.Wait()
			continue
		}
		w.running = true
		w.started++
		gen := w.started
		inode := w.inode
		w.mu.Unlock()
		newInode, err := w.syncFn(w.path, inode)
		w.mu.Lock()
		w.running = false
		w.done = gen
		if err != nil {
			w.failed, w.err = gen, err
		} else {
			w.inode = newInode
		}
		w.cond.Broadcast()
	}
	if w.failed >= target {
		return fmt.Errorf("sync write-ahead log: %w", w.err)
	}
	return nil
}

// syncFile fsyncs the file at path, and its directory too if the file is
// not the one (by inode) synced last time, so that a new log file's
// directory entry is durable with its contents. A missing file has
// nothing unsynced: SQLite checkpointed and synced it before removing it.
func syncFile(path string, lastInode uint64) (inode uint64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return lastInode, nil
	}
	if err != nil {
		return lastInode, err
	}
	defer f.Close()
	// fdatasync, as SQLite itself syncs: the file's data and the metadata
	// needed to read it (its size), without its times.
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return lastInode, err
	}
	info, err := f.Stat()
	if err != nil {
		return lastInode, err
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		inode = st.Ino
	}
	if inode != lastInode || inode == 0 {
		d, err := os.Open(filepath.Dir(path))
		if err != nil {
			return lastInode, err
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return lastInode, err
		}
	}
	return inode, nil
}
