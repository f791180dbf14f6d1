package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/storage"
)

// ingestReq is one Ingest call waiting for the batch that commits it.
type ingestReq struct {
	alerts []*alert.Alert
	done   chan struct{}
	err    error
}

// Ingest is the one entry point for alerts. The alerts must be valid
// (alert.Validate); they are merged with what is stored as Alertmanager
// merges them and are durable when Ingest returns nil.
//
// Concurrent calls are committed together (group commit): each call queues
// its alerts; whichever caller holds the commit lock takes every queued
// call, merges them in the order they were queued as if ingested one after
// the other, and writes them in one transaction. Every call of a batch gets
// that transaction's result.
func (r *Router) Ingest(ctx context.Context, alerts []*alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	req := &ingestReq{alerts: alerts, done: make(chan struct{})}
	r.qmu.Lock()
	r.queue = append(r.queue, req)
	r.qmu.Unlock()

	r.commitMu.Lock()
	r.qmu.Lock()
	batch := r.queue
	r.queue = nil
	r.qmu.Unlock()
	if len(batch) == 0 {
		// An earlier committer took this call into its batch.
		r.commitMu.Unlock()
		<-req.done
		return req.err
	}
	// The batch carries other callers' alerts: one caller going away must
	// not fail theirs. Alerts arriving are urgent work: a page may wait
	// for them.
	wait, err := r.commitBatch(storage.Urgent(context.WithoutCancel(ctx)), batch, lazyNone)
	// The next batch is planned and committed while this one waits for
	// the disk; its callers hear only once it is durable.
	r.commitMu.Unlock()
	if err == nil && wait != nil {
		err = wait()
		if err != nil {
			err = fmt.Errorf("store alerts: %w", err)
		}
	}
	for _, q := range batch {
		q.err = err
		close(q.done)
	}
	// This call may have gone with an earlier committer's batch.
	<-req.done
	return req.err
}

// routed is one group an alert routes to.
type routed struct {
	rt *dispatch.Route
	id string
}

// ingestPlan is a batch of ingests merged under r.mu, to be written and
// then applied to memory.
type ingestPlan struct {
	now       time.Time
	perCall   [][]*alert.Alert // merged alerts of each call, for metrics
	final     []*alert.Alert   // last version of each fingerprint
	routes    [][]routed       // the groups of each of final
	write     []*alert.Alert   // those of final to write now: all but mere endsAt extensions
	extended  []*alert.Alert   // those of final left to write lazily
	extStored []time.Time      // the endsAt stored for each of extended
	lazy      []*alert.Alert   // earlier extensions written by this batch
	newGroups []*group
	held      map[string]*group // groups that existed when planned
	flushes   []*flushPlan      // new groups flushed in the batch's transaction
}

// commitBatch merges, writes and applies a batch; the caller holds
// r.commitMu, so no other writer changes alerts or groups meanwhile, but
// flushes may settle (remove resolved alerts and emptied groups).
func (r *Router) commitBatch(ctx context.Context, batch []*ingestReq, pick lazyPick) (wait func() error, err error) {
	r.mu.Lock()
	if r.tree == nil {
		r.mu.Unlock()
		return nil, errors.New("router has no configuration")
	}
	p := r.planLocked(batch, pick)
	if pick == lazyNone {
		r.planInlineLocked(ctx, p)
	}
	r.mu.Unlock()

	var (
		recreated []*group
		settle    []settleWork
	)
	apply := func() {
		r.mu.Lock()
		recreated = r.applyLocked(p)
		settle = r.finishInlineLocked(p)
		r.mu.Unlock()
	}
	// The batch goes into memory once committed, while the disk syncs:
	// its groups may be flushing meanwhile, and a flush's send waits for
	// its own commit to be durable, which this one then is too.
	wait, err = r.write(ctx, p, apply)
	if err != nil && len(p.flushes) > 0 {
		// The alerts must not fail with a flush: they go without it, and
		// the flushers flush their groups.
		r.logger.Debug("Ingest with flushes failed; storing the alerts alone", "err", err)
		r.mu.Lock()
		r.dropInlineLocked(p)
		r.mu.Unlock()
		wait, err = r.write(ctx, p, apply)
	}
	if err != nil {
		return nil, fmt.Errorf("store alerts: %w", err)
	}
	if wait == nil {
		// Nothing was written (extensions left for later only): no commit
		// applied the batch.
		apply()
	}
	r.afterInline(ctx, p, settle)
	if len(recreated) == 0 {
		return wait, nil
	}
	// A group that a flush emptied and dropped while the batch was written
	// was formed again in memory; its row goes back too. The alerts are
	// already stored, and a start rebuilds groups from them, so a failure
	// here loses only the group's timer.
	gerr := r.db.InTx(ctx, func(tx *storage.Tx) error {
		for _, g := range recreated {
			if err := g.upsert(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if gerr != nil {
		r.logger.Warn("Storing re-formed groups failed", "groups", len(recreated), "err", gerr)
	}
	return wait, nil
}

// planLocked merges the batch's alerts with those held, call after call, as
// if each call had been ingested alone, and finds the groups to create.
func (r *Router) planLocked(batch []*ingestReq, pick lazyPick) *ingestPlan {
	p := &ingestPlan{now: r.clock.Now(), perCall: make([][]*alert.Alert, 0, len(batch)), held: map[string]*group{}}
	// latest is the version of each alert after the calls merged so far.
	latest := map[model.Fingerprint]*alert.Alert{}
	for _, q := range batch {
		merged := make([]*alert.Alert, 0, len(q.alerts))
		seen := make(map[model.Fingerprint]int, len(q.alerts))
		for _, a := range q.alerts {
			fp := a.Fingerprint()
			old, ok := latest[fp]
			if !ok {
				old, ok = r.alerts[fp]
			}
			if ok && overlaps(old, a) {
				a = mergeAt(old, a, p.now)
			}
			// A batch may carry one alert twice; the later copy wins as if
			// it had been posted after the first.
			if i, ok := seen[fp]; ok {
				merged[i] = mergeAt(merged[i], a, p.now)
				continue
			}
			seen[fp] = len(merged)
			merged = append(merged, a)
		}
		for _, a := range merged {
			latest[a.Fingerprint()] = a
		}
		p.perCall = append(p.perCall, merged)
	}
	p.final = make([]*alert.Alert, 0, len(latest))
	pending := map[string]bool{}
	for _, merged := range p.perCall {
		for _, a := range merged {
			fp := a.Fingerprint()
			if latest[fp] != a {
				continue // a later call changed it again
			}
			p.final = append(p.final, a)
			groups := len(p.newGroups)
			var rs []routed
			for _, rt := range r.tree.Match(a.Labels) {
				id, key, labels := r.groupIDs.identity(r.tree, rt, a.Labels)
				rs = append(rs, routed{rt, id})
				if g, ok := r.groups[id]; ok {
					p.held[id] = g
					continue
				}
				if pending[id] {
					continue
				}
				pending[id] = true
				p.newGroups = append(p.newGroups, newGroup(id, key, labels, rt, p.now))
			}
			p.routes = append(p.routes, rs)
			held := r.alerts[fp]
			var stored time.Time
			if held != nil {
				stored = held.EndsAt
				if e, ok := r.lazy[fp]; ok {
					stored = e.stored
				}
			}
			if len(p.newGroups) == groups && extendsOnly(held, stored, a, p.now) {
				p.extended = append(p.extended, a)
				p.extStored = append(p.extStored, stored)
			} else {
				p.write = append(p.write, a)
			}
		}
	}
	// Extensions left for later are written when their stored endsAt comes
	// close (see lazySafety): by then each has absorbed the re-sends of
	// minutes, so that a sender re-sending every minute with an endsAt
	// minutes ahead, as Prometheus does, costs a row write per alert every
	// few minutes, not one per re-send.
	if pick != lazyNone {
		due := p.now.Add(lazySafety + 2*lazyWriteDelay)
		for fp, e := range r.lazy {
			if latest[fp] == nil && (pick == lazyAll || e.stored.Before(due)) {
				p.lazy = append(p.lazy, e.a)
			}
		}
	}
	return p
}

// applyLocked puts a written batch into memory. It returns the groups it
// had to form again because a flush dropped them since planLocked.
func (r *Router) applyLocked(p *ingestPlan) []*group {
	for _, g := range p.newGroups {
		r.groups[g.id] = g
	}
	var recreated []*group
	for i, a := range p.final {
		fp := a.Fingerprint()
		r.alerts[fp] = a
		r.inhibit.set(a)
		for _, x := range p.routes[i] {
			g := r.groups[x.id]
			if g == nil {
				now := r.clock.Now()
				if old := p.held[x.id]; old != nil && !now.After(old.createdAt) {
					// The dropped group's clean-up deletes its row by
					// creation time; the new group's must differ.
					now = old.createdAt.Add(time.Millisecond)
				}
				_, key, labels := r.groupIDs.identity(r.tree, x.rt, a.Labels)
				g = newGroup(x.id, key, labels, x.rt, now)
				r.groups[x.id] = g
				recreated = append(recreated, g)
			}
			g.alerts[fp] = a
			// As Alertmanager does: an alert older than group_wait joining
			// a group that has not flushed yet is not held back any longer.
			if !g.flushed && a.StartsAt.Add(g.opts.GroupWait).Before(p.now) {
				g.nextFlush = p.now
			}
			r.sched.push(g)
		}
	}
	r.kick()
	for _, merged := range p.perCall {
		for _, a := range merged {
			r.metrics.received(a, p.now)
		}
	}
	for _, a := range p.write {
		delete(r.lazy, a.Fingerprint())
	}
	for _, a := range p.lazy {
		if r.lazy[a.Fingerprint()].a == a {
			delete(r.lazy, a.Fingerprint())
		}
	}
	if len(p.extended) > 0 {
		if len(r.lazy) == 0 {
			r.scheduleLazyLocked()
		}
		for i, a := range p.extended {
			r.lazy[a.Fingerprint()] = lazyExt{a: a, stored: p.extStored[i]}
		}
	}
	return recreated
}

// write stores a planned batch in one transaction: the alerts that changed,
// the endsAt extensions left for later if their time came, and the new
// groups. A batch of extensions only writes nothing.
func (r *Router) write(ctx context.Context, p *ingestPlan, committed func()) (wait func() error, err error) {
	if len(p.write) == 0 && len(p.lazy) == 0 && len(p.newGroups) == 0 {
		return nil, nil
	}
	inTx := r.db.InTxDeferred
	if len(p.flushes) > 0 {
		// A claim may find the flush's notification as soon as the
		// commit is visible.
		inTx = r.db.InTxDeferredStrict
	}
	return inTx(ctx, func(tx *storage.Tx) error {
		tx.OnCommitted(committed)
		if err := storeAlerts(ctx, tx, p.write); err != nil {
			return err
		}
		if err := storeExtensions(ctx, tx, p.lazy); err != nil {
			return err
		}
		if err := insertGroups(ctx, tx, p.newGroups); err != nil {
			return err
		}
		return r.recordInline(ctx, tx, p)
	})
}

// lazyWriteDelay is how often the endsAt extensions not yet written are
// looked at, and the margin by which they are written early.
const lazyWriteDelay = time.Second

// lazyExt is an alert whose endsAt extensions are not yet written, and the
// endsAt stored for it.
type lazyExt struct {
	a      *alert.Alert
	stored time.Time
}

// lazyPick says which unwritten extensions a batch writes too.
type lazyPick int

const (
	lazyNone lazyPick = iota // none: an ingest batch
	lazyDue                  // those whose stored endsAt comes within lazySafety
	lazyAll                  // all: stopping
)

// lazySafety is how far ahead the stored endsAt of an alert must lie for an
// extension of it to be written lazily. Another replica may flush the
// alert's group from the stored version (router/sync.go), so that version
// must not resolve before the extension is written, nor before the
// replicas' next read of the table: this margin covers both, with room
// for a database that is briefly away. Prometheus's re-sends (endsAt four
// resend intervals ahead, a resend every minute by default) stay lazy.
const lazySafety = time.Minute

// extendsOnly reports whether a differs from the held version h only by a
// later endsAt (and updatedAt), and the endsAt stored for h lies well
// beyond now: a re-send as Prometheus makes them, which need not cost a
// write yet. Should the process die before it is written, the alert comes
// back with the stored endsAt, which still lies lazySafety ahead, as the
// unwritten extensions are written before it comes closer; so does the
// version other replicas read meanwhile.
func extendsOnly(h *alert.Alert, stored time.Time, a *alert.Alert, now time.Time) bool {
	return h != nil && stored.After(now.Add(lazySafety)) && a.EndsAt.After(h.EndsAt) &&
		a.StartsAt.Equal(h.StartsAt) && a.Timeout == h.Timeout && a.GeneratorURL == h.GeneratorURL &&
		a.Labels.Equal(h.Labels) && a.Annotations.Equal(h.Annotations)
}

// writeLazy writes the endsAt extensions left for later whose stored
// endsAt comes close, or all of them when stopping. On SQLite it does not
// take commitMu, so that ingest batches are planned while thousands of
// rows are written: storeExtensions only updates rows whose stored version
// is older, so a newer version committed meanwhile, or a row deleted
// meanwhile, stays as it is. On PostgreSQL two transactions updating the
// same rows in different orders deadlock, so there it takes its turn with
// the ingest batches.
func (r *Router) writeLazy(pick lazyPick) {
	if r.db.Dialect() == storage.Postgres {
		r.commitMu.Lock()
		defer r.commitMu.Unlock()
	}
	wait, err := r.commitBatch(context.Background(), nil, pick)
	if err == nil && wait != nil {
		err = wait()
	}
	if err != nil {
		r.logger.Warn("Storing endsAt extensions failed; will retry", "err", err)
	}
	if pick == lazyAll {
		return
	}
	r.mu.Lock()
	if len(r.lazy) > 0 {
		r.scheduleLazyLocked()
	}
	r.mu.Unlock()
}

func (r *Router) scheduleLazyLocked() {
	if r.lazyTimer != nil {
		r.lazyTimer.Stop()
	}
	r.lazyTimer = r.clock.AfterFunc(lazyWriteDelay, func() { r.writeLazy(lazyDue) })
}
