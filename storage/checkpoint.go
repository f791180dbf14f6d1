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
// readers or writers, runs in the background: once checkpointCommits
// commits were made since the last one, or checkpointQuiet after the last
// one when fewer were.
// Durability does not depend on it: commits are durable once the log is
// synced (walSyncer).
//
// A checkpoint still costs the commits made while it runs: it syncs the
// database file, and a sync of the log meanwhile waits behind it on the
// disk (2–6 ms instead of 0.3–1 here). Checkpointing every half second
// put one in the path of about one page in a hundred, which is what the
// p99 of notification latency measures; on a store that writes little, a
// checkpoint every few seconds meets few of them, and under load they
// come about as often as SQLite's own would.
type checkpointer struct {
	db      *sql.DB
	commits atomic.Int64 // commits since the last checkpoint began
	stop    chan struct{}
	done    sync.WaitGroup
}

const (
	// checkpointCommits is how many commits start a checkpoint at the next
	// look: it bounds the log's growth under load.
	checkpointCommits = 256
	// checkpointQuiet is how long fewer commits wait for their checkpoint.
	checkpointQuiet = 5 * time.Second
	// checkpointLook is how often the commits are counted.
	checkpointLook = 100 * time.Millisecond
)

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
	t := time.NewTicker(checkpointLook)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		n := c.commits.Load()
		if n == 0 || (n < checkpointCommits && time.Since(last) < checkpointQuiet) {
			continue
		}
		c.commits.Add(-n)
		last = time.Now()
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
