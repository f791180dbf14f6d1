package storage

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// stmtCache keeps SQLite statements prepared, by query text. The SQLite
// driver compiles every query it is given anew, and compiling costs about
// as much as running the short statements Klaxon issues: a flush of one
// group runs a dozen of them. A prepared statement is compiled once per
// connection and reused; database/sql keeps one per connection it ran on.
//
// Queries built with a varying number of rows (multi-row VALUES lists) would
// each be a new text; the cache takes short queries only, and no more than
// maxCachedStmts, so that those cannot crowd out memory.
type stmtCache struct {
	db *sql.DB
	// ctx ends at close, so that a prepare waiting for a connection gives
	// up; preparing counts the prepares in flight, which close waits for:
	// one finishing after the store closed would hold a connection, and
	// SQLite's files, past Close.
	ctx       context.Context
	cancel    context.CancelFunc
	preparing sync.WaitGroup

	mu     sync.Mutex
	m      map[string]*sql.Stmt // nil while being prepared
	closed bool
}

const (
	maxCachedStmts   = 512
	maxCachedStmtLen = 1024
)

func newStmtCache(db *sql.DB) *stmtCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &stmtCache{db: db, ctx: ctx, cancel: cancel, m: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for q, or nil when q runs unprepared
// this time. A query seen for the first time is prepared in the
// background: preparing takes a connection from the pool, and the caller
// may hold the last one in a transaction.
func (c *stmtCache) get(q string) *sql.Stmt {
	if c == nil || len(q) > maxCachedStmtLen {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok || c.closed || len(c.m) >= maxCachedStmts {
		return s
	}
	c.m[q] = nil
	c.preparing.Go(func() { c.prepare(q) })
	return nil
}

func (c *stmtCache) prepare(q string) {
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	s, err := c.db.PrepareContext(ctx, q)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		// Run unprepared; the error, if it is the query's, comes from
		// there. A later call tries again.
		delete(c.m, q)
	case c.closed:
		s.Close()
	default:
		c.m[q] = s
	}
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.preparing.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		if s != nil {
			s.Close()
		}
		delete(c.m, q)
	}
}
