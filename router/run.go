package router

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/alertmanager/alert"

	"github.com/klaxon-dev/klaxon/storage"
)

// maxFlushers bounds the flush batches in progress, so that a slow
// database delays flushes instead of piling up goroutines and connections.
// Two keep either store busy (one batch written while the next is
// prepared). More would only lengthen, on SQLite, the queue of
// transactions for its single writer and, on PostgreSQL, the crowd of
// transactions sharing the database's CPU with ingest and the immediate
// lane: with four, a burst of a thousand groups slowed pages falling due
// meanwhile by tens of milliseconds (BENCHMARKS.md).
func (r *Router) maxFlushers() int {
	return 2
}

// maxFlushBatch bounds the groups flushed in one transaction, trading
// commits for the time a batch holds what others wait for. On SQLite a
// batch holds the single writer, which ingest and the immediate lane wait
// for, so it stays short: a thousand groups falling due together cost 250
// commits, which share syncs of the log (walSyncer), and a batch holds the
// writer a millisecond or two. On PostgreSQL batches run side by side and
// immediate groups have a lane of their own, so a batch can be larger: 63
// commits for those thousand groups.
func (r *Router) maxFlushBatch() int {
	if r.db.Dialect() == storage.Postgres {
		return 16
	}
	return 4
}

// immediateWait is the group_wait below which a route's groups are
// immediate: their first notification is a page meant to go out at once
// (group_wait: 0s), not one that waits to gather its group. While every
// flusher is busy, immediate groups are flushed in a lane of their own, in
// small batches whose transactions go ahead of other work in SQLite's
// writer queue (storage.Urgent): such a page is not held up by a thousand
// groups reaching a 30-second group_wait together, which waited that long
// by design and can spare the milliseconds.
const immediateWait = time.Second

// maxImmediateBatch bounds the groups flushed together in the immediate
// lane: its transactions are short, and so is what the next page waits for.
const maxImmediateBatch = 2

// timerSlack is how late a flush timer may start without being started
// again: far below the 50 ms within which flushes must land.
const timerSlack = time.Millisecond

// retryAfterFailure is when a flush whose transaction failed is tried again.
const retryAfterFailure = 5 * time.Second

// Load restores alerts, groups and the notification log from the database.
// Call it once, after ApplyConfig and before Run or Ingest.
func (r *Router) Load(ctx context.Context) error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	// Reading the table counts as a full read for Sync.
	alone, epoch := r.peerState()
	start := r.clock.Now()
	alerts, err := loadAlerts(ctx, r.db)
	if err != nil {
		return err
	}
	rows, err := loadGroups(ctx, r.db)
	if err != nil {
		return err
	}
	now := r.clock.Now()
	nflog, err := loadNflog(ctx, r.db, now)
	if err != nil {
		return err
	}
	cutoff := storage.Millis(now.Add(-silenceRetention))
	if _, err := r.db.Exec(ctx, `DELETE FROM silences WHERE ends_at < ?`, cutoff); err != nil {
		return fmt.Errorf("delete old silences: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tree == nil {
		return fmt.Errorf("router has no configuration")
	}
	r.alerts = alerts
	r.noteSyncLocked(alone, epoch, start)
	if err := r.syncSilencesLocked(ctx); err != nil {
		return err
	}
	for _, a := range alerts {
		r.inhibit.set(a)
	}
	r.groups = map[string]*group{}
	for _, a := range alerts {
		for _, rt := range r.tree.Match(a.Labels) {
			id, key, labels := r.groupIDs.identity(r.tree, rt, a.Labels)
			g := r.groups[id]
			if g == nil {
				g = newGroup(id, key, labels, rt, now)
				if row, ok := rows[id]; ok {
					// The group's timers carry on where they were; a
					// flush that fell due while stopped happens now.
					g.createdAt, g.nextFlush, g.flushed = row.createdAt, row.nextFlush, row.flushed
				}
				g.sent = nflog[id]
				r.groups[id] = g
			}
			g.alerts[a.Fingerprint()] = a
		}
	}
	r.nflog = nflog
	r.started = true
	var stale []string
	for id := range rows {
		if _, ok := r.groups[id]; !ok {
			stale = append(stale, id)
		}
	}
	for _, g := range r.groups {
		r.sched.push(g)
	}
	r.metrics.groups.Set(float64(len(r.groups)))
	r.logger.Info("Restored router state", "alerts", len(alerts), "groups", len(r.groups), "notification_log_entries", len(nflog))
	if len(stale) == 0 {
		return nil
	}
	return r.db.InTx(ctx, func(tx *storage.Tx) error {
		for _, id := range stale {
			if err := deleteGroup(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// Run flushes groups as they fall due until ctx ends, then waits for the
// flushes in progress.
func (r *Router) Run(ctx context.Context) {
	defer r.flushing.Wait()
	// Extensions of endsAt not yet written are written on the way out, so
	// that only a crash can lose them.
	defer r.writeLazy(lazyAll)
	r.flushing.Add(1)
	go r.watchSilences(ctx, r.clock.NewTicker(silenceCheckInterval/2))
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	for {
		r.mu.Lock()
		now := r.clock.Now()
		n := 0
		for g := r.sched.peek(); g != nil && !g.nextFlush.After(now); g = r.sched.peek() {
			heap.Pop(&r.sched)
			// A group of a slot another replica holds is flushed there;
			// AcquireSlots schedules it again if the slot comes here.
			if !g.inFlight && r.groups[g.id] == g && r.holdsLocked(g) {
				g.inFlight = true
				r.flushQ = append(r.flushQ, g)
				n++
			}
		}
		if n > 0 {
			r.active.Add(int64(n))
			// Flushers take the queue in batches; one more starts while
			// there are fewer than maxFlushers, so that a group falling
			// due does not wait for a batch to commit if it need not.
			// With every flusher already busy, an immediate group has a
			// lane of its own instead of waiting for a batch of a backlog
			// to commit (see immediateWait).
			busy := r.flushers >= r.maxFlushers()
			for r.flushers < r.maxFlushers() && len(r.flushQ) > 0 {
				r.flushers++
				r.flushing.Add(1)
				go r.flusher(ctx)
			}
			if busy && !r.immediateFlusher && r.hasImmediateLocked() {
				r.immediateFlusher = true
				r.flushing.Add(1)
				go r.immediateFlusherLoop(ctx)
			}
		}
		next := now.Add(time.Hour)
		if g := r.sched.peek(); g != nil {
			next = g.nextFlush
		}
		r.mu.Unlock()
		if n > 0 {
			continue
		}
		// The wait is taken from the clock again here, not from before the
		// flushes started, so that the timer fires when the group is due.
		before := r.clock.Now()
		t := r.clock.NewTimer(next.Sub(before))
		// Reading the clock and starting the timer are two steps: if the
		// clock moved on in between (a test's fake clock jumps; a real one
		// only if this goroutine was held up), the timer counts from the
		// later time and fires late. Start it again from a fresh reading.
		if r.clock.Now().Sub(before) > timerSlack {
			t.Stop()
			continue
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		case <-r.wake:
			t.Stop()
		}
	}
}

// settleWork is the database side of settling a flush.
type settleWork struct {
	g        *group
	gone     []*alert.Alert
	emptied  bool
	saveTick bool
	next     int64 // the tick to save, read under the lock
	created  int64
	flushed  bool
}

// settleLocked finishes a successful flush in memory: resolved alerts that
// were part of it leave the group (and the router, if in no other group),
// an emptied group is dropped, and the next tick is rescheduled. It returns
// what the database must be told.
func (r *Router) settleLocked(g *group, originals []*alert.Alert, now time.Time, notified bool) settleWork {
	w := settleWork{g: g}
	// Resolved alerts that were part of this flush and did not change since
	// leave the group, as in Alertmanager.
	for _, a := range originals {
		f := a.Fingerprint()
		if !a.ResolvedAt(now) || g.alerts[f] != a {
			continue
		}
		delete(g.alerts, f)
		if r.alerts[f] == a && !r.inAnyGroupLocked(a) {
			delete(r.alerts, f)
			delete(r.lazy, f)
			r.inhibit.remove(a)
			w.gone = append(w.gone, a)
		}
	}
	w.emptied = len(g.alerts) == 0 && r.groups[g.id] == g
	if w.emptied {
		delete(r.groups, g.id)
		r.sched.remove(g)
		r.metrics.groups.Set(float64(len(r.groups)))
	} else if r.groups[g.id] == g {
		r.sched.push(g)
		// Run may be asleep until a later group; wake it to see this one.
		r.kick()
	}
	// A flush that notified saved the group's next tick with the log; any
	// other saves it here, so that a restart keeps the group on its
	// group_interval grid instead of flushing at once and shifting it.
	w.saveTick = !notified && !w.emptied && r.groups[g.id] == g
	w.next, w.flushed, w.created = storage.Millis(g.nextFlush), g.flushed, storage.Millis(g.createdAt)
	return w
}

func (w settleWork) needed() bool {
	return len(w.gone) > 0 || w.emptied || w.saveTick
}

func (w settleWork) apply(ctx context.Context, tx *storage.Tx) error {
	if err := deleteAlerts(ctx, tx, w.gone); err != nil {
		return err
	}
	if w.emptied {
		// Only the group as it was: an ingest may have formed it anew
		// since, with a new creation time.
		return tx.ExecLater(ctx, `DELETE FROM alert_groups WHERE id = ? AND created_at = ?`, w.g.id, w.created)
	}
	if w.saveTick {
		return tx.ExecLater(ctx, `UPDATE alert_groups SET next_flush_at = ?, flushed = ? WHERE id = ?`, w.next, w.flushed, w.g.id)
	}
	return nil
}

// settle does the database side of a batch's flushes in one transaction,
// or one per group if that fails. The notification log already holds the
// resolved state, so losing this clean-up to a crash only leaves rows that
// the next start flushes again without notifying.
func (r *Router) settle(ctx context.Context, works []settleWork) {
	works = slices.DeleteFunc(works, func(w settleWork) bool { return !w.needed() })
	if len(works) == 0 {
		return
	}
	err := r.db.InTx(ctx, func(tx *storage.Tx) error {
		for _, w := range works {
			if err := w.apply(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	if len(works) > 1 {
		for _, w := range works {
			if err := r.db.InTx(ctx, func(tx *storage.Tx) error { return w.apply(ctx, tx) }); err != nil {
				r.logger.Warn("Clean-up of resolved alerts failed", "group", w.g.key, "err", err)
			}
		}
		return
	}
	r.logger.Warn("Clean-up of resolved alerts failed", "group", works[0].g.key, "err", err)
}

// inAnyGroupLocked reports whether a is still held by a group. Only the
// groups its labels route to can hold it, so those are the ones looked at.
func (r *Router) inAnyGroupLocked(a *alert.Alert) bool {
	for _, rt := range r.tree.Match(a.Labels) {
		id, _, _ := r.groupIDs.identity(r.tree, rt, a.Labels)
		if g := r.groups[id]; g != nil {
			if _, ok := g.alerts[a.Fingerprint()]; ok {
				return true
			}
		}
	}
	return false
}
