package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/alertmanager/alert"

	"github.com/klaxon-dev/klaxon/storage"
)

// flusher flushes the queued groups batch by batch until the queue is
// empty or ctx ends.
func (r *Router) flusher(ctx context.Context) {
	defer r.flushing.Done()
	for {
		r.mu.Lock()
		if ctx.Err() != nil || len(r.flushQ) == 0 {
			// On the way out, groups not taken go back to waiting: their
			// timers are in the database, and the next start flushes them.
			if ctx.Err() != nil {
				for _, g := range r.flushQ {
					g.inFlight = false
				}
				r.active.Add(-int64(len(r.flushQ)))
				r.flushQ = nil
			}
			r.flushers--
			r.mu.Unlock()
			return
		}
		batch := r.takeBatchLocked()
		r.mu.Unlock()
		r.flushBatch(ctx, batch, allImmediate(batch))
		r.active.Add(-int64(len(batch)))
	}
}

// immediateFlusherLoop flushes immediate groups (see immediateWait) while
// there are any queued, oldest first, in batches of up to
// maxImmediateBatch, as urgent writers.
func (r *Router) immediateFlusherLoop(ctx context.Context) {
	defer r.flushing.Done()
	for {
		r.mu.Lock()
		var batch []*group
		if ctx.Err() == nil {
			batch = r.takeImmediateLocked()
		}
		if len(batch) == 0 {
			r.immediateFlusher = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.flushBatch(ctx, batch, true)
		r.active.Add(-int64(len(batch)))
	}
}

// isImmediate reports whether g's flush is a first notification that its
// route wants out at once (see immediateWait).
func isImmediate(g *group) bool {
	return !g.flushed && g.opts.GroupWait < immediateWait
}

// allImmediate reports whether batch is a small batch of immediate groups,
// whose flush is urgent.
func allImmediate(batch []*group) bool {
	return len(batch) <= maxImmediateBatch && !slices.ContainsFunc(batch, func(g *group) bool { return !isImmediate(g) })
}

func (r *Router) hasImmediateLocked() bool {
	return slices.ContainsFunc(r.flushQ, isImmediate)
}

// takeImmediateLocked takes up to maxImmediateBatch immediate groups from
// the queue, oldest first; the others keep their order.
func (r *Router) takeImmediateLocked() []*group {
	var batch []*group
	for i, g := range r.flushQ {
		if len(batch) == maxImmediateBatch {
			break
		}
		if isImmediate(g) {
			batch = append(batch, g)
			r.flushQ[i] = nil
		}
	}
	if len(batch) > 0 {
		r.flushQ = slices.DeleteFunc(r.flushQ, func(g *group) bool { return g == nil })
	}
	return batch
}

// takeBatchLocked takes up to maxFlushBatch() groups from the queue: the
// oldest, and a quarter of the batch from the newest end, so that a group
// that fell due behind a burst of others (a probe behind a thousand groups
// reaching group_wait together) goes with the next batch, while the burst
// still drains at three quarters of a batch per commit at least.
func (r *Router) takeBatchLocked() []*group {
	q := r.flushQ
	size := r.maxFlushBatch()
	if len(q) <= size {
		r.flushQ = nil
		return q
	}
	newest := max(1, size/4)
	batch := make([]*group, 0, size)
	batch = append(batch, q[:size-newest]...)
	batch = append(batch, q[len(q)-newest:]...)
	rest := q[size-newest : len(q)-newest]
	r.flushQ = append(make([]*group, 0, len(rest)), rest...)
	return batch
}

// flushPlan is one group's part of a flush batch.
type flushPlan struct {
	g         *group
	now       time.Time
	originals []*alert.Alert
	n         *Notification // nil when the flush notifies nothing
	entry     *nflogEntry
	interval  time.Duration

	notified bool // the notification was recorded (and committed, once done)
	notHeld  bool // the group's slot was taken over by another replica
	failed   bool
}

// flushBatch notifies each group of batch whose state calls for it,
// Alertmanager's dedup stage deciding, recording the notifications in one
// transaction with the Sink's work, so that a burst of groups falling due
// together costs one commit per batch, not one per group. Each group's
// fence is checked inside that transaction. If the transaction fails, each
// group is tried again in a transaction of its own, so that one failing
// group does not hold back the others.
//
// An urgent batch's transaction goes ahead of others waiting for SQLite's
// writer (storage.Urgent).
func (r *Router) flushBatch(ctx context.Context, batch []*group, urgent bool) {
	r.mu.Lock()
	now := r.clock.Now()
	if err := r.syncSilencesThrottledLocked(ctx, now); err != nil {
		// Muting with the silences last read beats not notifying.
		r.logger.Warn("Reading silences failed; using those last read", "err", err)
	}
	plans := make([]*flushPlan, len(batch))
	var notify []*flushPlan
	for i, g := range batch {
		plans[i] = r.planFlushLocked(g, now)
		if plans[i].n != nil {
			notify = append(notify, plans[i])
		}
	}
	r.mu.Unlock()

	txCtx := ctx
	if urgent {
		txCtx = storage.Urgent(ctx)
	}
	if len(notify) > 0 {
		err := r.db.InTx(txCtx, func(tx *storage.Tx) error {
			for _, p := range notify {
				if err := r.recordFlush(ctx, tx, p, false); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			for _, p := range notify {
				p.notified, p.notHeld = false, false
			}
			if len(notify) == 1 || ctx.Err() != nil {
				// Alone, or stopping: nothing to gain from one by one.
				for _, p := range notify {
					r.flushFailed(p, err)
				}
			} else {
				r.logger.Warn("Flush batch failed; flushing its groups one by one", "groups", len(notify), "err", err)
				for _, p := range notify {
					err := r.db.InTx(ctx, func(tx *storage.Tx) error {
						p.notified, p.notHeld = false, false
						return r.recordFlush(ctx, tx, p, false)
					})
					if err != nil {
						p.notified, p.notHeld = false, false
						r.flushFailed(p, err)
					}
				}
			}
		}
	}
	woken := false
	for _, p := range notify {
		if p.notHeld {
			r.logger.Debug("Flush skipped: slot taken over", "group", p.g.key, "slot", p.g.slot)
		}
		if p.notified {
			r.metrics.notifications.WithLabelValues(string(p.n.Reason)).Inc()
			if !woken && r.afterCommit != nil {
				// One wake-up for the batch: the outbox claims its rows
				// together.
				woken = true
				r.afterCommit()
			}
		}
	}

	r.mu.Lock()
	var works []settleWork
	for _, p := range plans {
		if w, ok := r.finishLocked(p); ok {
			works = append(works, w)
		}
	}
	r.mu.Unlock()
	// The database work runs outside the lock, so that ingest and other
	// flushes do not wait for it; in the immediate lane it is urgent too, as
	// the lane's next groups wait for it.
	r.settle(txCtx, works)
}

// planFlushLocked decides what flushing g notifies, if anything.
func (r *Router) planFlushLocked(g *group, now time.Time) *flushPlan {
	p := &flushPlan{g: g, now: now, interval: g.opts.GroupInterval}
	p.originals = make([]*alert.Alert, 0, len(g.alerts))
	copies := make([]*alert.Alert, 0, len(g.alerts))
	for _, a := range g.alerts {
		p.originals = append(p.originals, a)
		c := *a
		// As Alertmanager does: alerts must not resolve while the
		// notification waits to be delivered.
		if !c.ResolvedAt(now) {
			c.EndsAt = time.Time{}
		}
		copies = append(copies, &c)
	}
	sortAlerts(copies)
	copies = r.muteLocked(copies, &g.opts, now)
	firing, resolved := fingerprints(copies, now)
	reason, need := decide(r.nflog[g.id], firing, resolved, r.sendRs[g.opts.Receiver], now, g.opts.RepeatInterval)
	if !need || len(copies) == 0 {
		return p
	}
	p.n = &Notification{
		GroupID: g.id, GroupKey: g.key, Receiver: g.opts.Receiver, GroupLabels: g.labels,
		Alerts: copies, Reason: reason, At: now,
	}
	p.entry = &nflogEntry{Firing: firing, Resolved: resolved, SentAt: now, Expires: now.Add(nflogRetention)}
	return p
}

// recordFlush hands p's notification to the Sink and records it in the
// notification log and the group's timer, inside tx; a group whose slot
// another replica took over is left out.
//
// In an ingest's transaction (inline), the slot's lease is read with the
// Sink's first statement that is read (the incident), which on PostgreSQL
// is one round trip less between a page's POST and its send; a slot found
// taken over then fails the transaction, and the ingest is written again
// without its flushes (Router.commitBatch), leaving the group to the
// flushers, which look before they write.
func (r *Router) recordFlush(ctx context.Context, tx *storage.Tx, p *flushPlan, inline bool) error {
	var fenced func() (bool, error)
	if inline && r.clustered() {
		check, err := r.fence.HoldsLater(ctx, tx, p.g.slot)
		if err != nil {
			return fmt.Errorf("check slot lease: %w", err)
		}
		fenced = check
	} else if err := r.checkFence(ctx, tx, p.g); err != nil {
		if errors.Is(err, errNotHeld) {
			p.notHeld = true
			return nil
		}
		return err
	}
	sent, err := r.sink.Flush(ctx, tx, p.n)
	if err != nil {
		return err
	}
	if fenced != nil {
		ok, err := fenced()
		if err != nil {
			return fmt.Errorf("check slot lease: %w", err)
		}
		if !ok {
			return errNotHeld
		}
	}
	if !sent {
		return nil
	}
	p.notified = true
	if err := saveNflog(ctx, tx, p.g.id, p.n.Receiver, p.entry); err != nil {
		return err
	}
	return tx.ExecLater(ctx, `UPDATE alert_groups SET next_flush_at = ?, flushed = ? WHERE id = ?`,
		storage.Millis(p.now.Add(p.interval)), true, p.g.id)
}

func (r *Router) flushFailed(p *flushPlan, err error) {
	p.failed = true
	r.metrics.flushErrors.Inc()
	r.logger.Error("Flush failed; will retry", "group", p.g.key, "receiver", p.n.Receiver, "err", err)
}

// finishLocked applies the outcome of p's flush in memory and returns the
// database clean-up it calls for.
func (r *Router) finishLocked(p *flushPlan) (settleWork, bool) {
	g := p.g
	g.inFlight = false
	if p.notified {
		r.nflog[g.id] = p.entry
		g.sent = p.entry
	}
	if p.failed || p.notHeld {
		// Another replica flushes a group whose slot it took over;
		// AcquireSlots schedules it here again if the slot comes back.
		g.nextFlush = p.now.Add(retryAfterFailure)
		if r.groups[g.id] == g {
			r.sched.push(g)
			r.kick()
		}
		return settleWork{}, false
	}
	g.flushed = true
	g.nextFlush = p.now.Add(p.interval)
	return r.settleLocked(g, p.originals, p.now, p.notified), true
}
