package storage

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointer copies SQLite's write-ahead log into the database file in
// the background. SQLite's own automatic checkpoint runs inside the commit
// that fills the log past 1,000 pages: that commit, and every writer
// queued behind it, waits while megabytes are copied and the database
// file is synced, which on a busy disk is tens of milliseconds in the
// middle of a page's path. Here automatic checkpoints are off
// (wal_autocheckpoint=0) and a PASSIVE checkpoint, which never blocks
// readers or writers, runs every checkpointInterval when something was
// committed since the last one. Durability does not depend on it: commits
// are durable once the log is synced (walSyncer).
type checkpointer struct {
	db      *sql.DB
	commits atomic.Int64 // commits since the last checkpoint began
	stop    chan struct{}
	done    sync.WaitGroup
}

// checkpointInterval is how often the log is copied into the database
// while writes go on; it bounds the log's growth to the writes of that
// long (SQLite's default would copy every 1,000 pages, about 4 MB).
const checkpointInterval = 500 * time.Millisecond

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, stop: make(chan struct{})}
	c.done.Go(c.run)
	return c
}

func (c *checkpointer) committed() {
	if c != nil {
		c.commits.Add(1)
	}
}

func (c *checkpointer) run() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if c.commits.Swap(0) == 0 {
			continue
		}
		// A failed checkpoint leaves the log to the next one: nothing
		// committed depends on it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _ = c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		cancel()
	}
}

func (c *checkpointer) close() {
	if c == nil {
		return
	}
	close(c.stop)
	c.done.Wait()
}
