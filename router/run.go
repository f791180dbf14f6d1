package router

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/alert"

	"github.com/klaxon-dev/klaxon/storage"
)

// maxConcurrentFlushes bounds the flushes in progress, so that a slow
// database delays flushes instead of piling up goroutines.
const maxConcurrentFlushes = 16

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
	if err := r.syncSilencesLocked(ctx); err != nil {
		return err
	}
	for _, a := range alerts {
		r.inhibit.set(a)
	}
	r.groups = map[string]*group{}
	for _, a := range alerts {
		for _, rt := range r.tree.Match(a.Labels) {
			id, key, labels := groupIdentity(rt, a.Labels)
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
	sem := make(chan struct{}, maxConcurrentFlushes)
	defer r.flushing.Wait()
	// Extensions of endsAt not yet written are written on the way out, so
	// that only a crash can lose them.
	defer r.writeLazy()
	for {
		r.mu.Lock()
		now := r.clock.Now()
		var due []*group
		for g := r.sched.peek(); g != nil && !g.nextFlush.After(now); g = r.sched.peek() {
			heap.Pop(&r.sched)
			// A group of a slot another replica holds is flushed there;
			// AcquireSlots schedules it again if the slot comes here.
			if !g.inFlight && r.groups[g.id] == g && r.holdsLocked(g) {
				g.inFlight = true
				due = append(due, g)
			}
		}
		next := now.Add(time.Hour)
		if g := r.sched.peek(); g != nil {
			next = g.nextFlush
		}
		r.mu.Unlock()

		for _, g := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			r.flushing.Add(1)
			r.active.Add(1)
			go func() {
				defer func() { <-sem; r.active.Add(-1); r.flushing.Done() }()
				r.flush(ctx, g)
			}()
		}
		if len(due) > 0 {
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

// flush notifies one group if its state calls for it, Alertmanager's
// dedup stage deciding, and records the notification in the same
// transaction as the Sink's work.
func (r *Router) flush(ctx context.Context, g *group) {
	r.mu.Lock()
	now := r.clock.Now()
	originals := make([]*alert.Alert, 0, len(g.alerts))
	copies := make([]*alert.Alert, 0, len(g.alerts))
	for _, a := range g.alerts {
		originals = append(originals, a)
		c := *a
		// As Alertmanager does: alerts must not resolve while the
		// notification waits to be delivered.
		if !c.ResolvedAt(now) {
			c.EndsAt = time.Time{}
		}
		copies = append(copies, &c)
	}
	sortAlerts(copies)
	if err := r.syncSilencesThrottledLocked(ctx, now); err != nil {
		// Muting with the silences last read beats not notifying.
		r.logger.Warn("Reading silences failed; using those last read", "err", err)
	}
	copies = r.muteLocked(copies, &g.opts, now)
	firing, resolved := fingerprints(copies, now)
	reason, need := decide(r.nflog[g.id], firing, resolved, r.sendRs[g.opts.Receiver], now, g.opts.RepeatInterval)
	need = need && len(copies) > 0
	receiver, interval := g.opts.Receiver, g.opts.GroupInterval
	r.mu.Unlock()

	ok, notified := true, false
	var entry *nflogEntry
	if need {
		n := &Notification{
			GroupID: g.id, GroupKey: g.key, Receiver: receiver, GroupLabels: g.labels,
			Alerts: copies, Reason: reason, At: now,
		}
		entry = &nflogEntry{Firing: firing, Resolved: resolved, SentAt: now, Expires: now.Add(nflogRetention)}
		err := r.db.InTx(ctx, func(tx *storage.Tx) error {
			if err := r.checkFence(ctx, tx, g); err != nil {
				return err
			}
			sent, err := r.sink.Flush(ctx, tx, n)
			if err != nil || !sent {
				notified = false
				return err
			}
			notified = true
			if err := saveNflog(ctx, tx, g.id, receiver, entry); err != nil {
				return err
			}
			g.nextFlush, g.flushed = now.Add(interval), true
			return g.saveTimer(ctx, tx)
		})
		switch {
		case errors.Is(err, errNotHeld):
			// Another replica took the slot over and flushes the group.
			ok, notified = false, false
			r.logger.Debug("Flush skipped: slot taken over", "group", g.key, "slot", g.slot)
		case err != nil:
			ok, notified = false, false
			r.metrics.flushErrors.Inc()
			r.logger.Error("Flush failed; will retry", "group", g.key, "receiver", receiver, "err", err)
		}
	}
	if notified {
		r.metrics.notifications.WithLabelValues(string(reason)).Inc()
		if r.afterCommit != nil {
			r.afterCommit()
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	g.inFlight = false
	if notified {
		r.nflog[g.id] = entry
		g.sent = entry
	}
	if !ok {
		g.nextFlush = now.Add(retryAfterFailure)
		if r.groups[g.id] == g {
			r.sched.push(g)
			r.kick()
		}
		return
	}
	g.flushed = true
	g.nextFlush = now.Add(interval)
	work := r.settleLocked(g, originals, now, notified)
	r.mu.Unlock()
	// The database work runs outside the lock, so that ingest and other
	// flushes do not wait for it.
	work.do(ctx, r)
	r.mu.Lock()
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

func (w settleWork) do(ctx context.Context, r *Router) {
	if len(w.gone) == 0 && !w.emptied && !w.saveTick {
		return
	}
	// The notification log already holds the resolved state, so losing
	// this clean-up to a crash only leaves rows that the next start
	// flushes again without notifying.
	err := r.db.InTx(ctx, func(tx *storage.Tx) error {
		if err := deleteAlerts(ctx, tx, w.gone); err != nil {
			return err
		}
		if w.emptied {
			// Only the group as it was: an ingest may have formed it anew
			// since, with a new creation time.
			_, err := tx.Exec(ctx, `DELETE FROM alert_groups WHERE id = ? AND created_at = ?`, w.g.id, w.created)
			return err
		}
		if w.saveTick {
			_, err := tx.Exec(ctx, `UPDATE alert_groups SET next_flush_at = ?, flushed = ? WHERE id = ?`, w.next, w.flushed, w.g.id)
			return err
		}
		return nil
	})
	if err != nil {
		r.logger.Warn("Clean-up of resolved alerts failed", "group", w.g.key, "err", err)
	}
}

// inAnyGroupLocked reports whether a is still held by a group. Only the
// groups its labels route to can hold it, so those are the ones looked at.
func (r *Router) inAnyGroupLocked(a *alert.Alert) bool {
	for _, rt := range r.tree.Match(a.Labels) {
		id, _, _ := groupIdentity(rt, a.Labels)
		if g := r.groups[id]; g != nil {
			if _, ok := g.alerts[a.Fingerprint()]; ok {
				return true
			}
		}
	}
	return false
}
