package router

import (
	"context"

	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/storage"
)

// maxInlineFlushes bounds the groups flushed inside one ingest transaction
// (see planInlineLocked): the batch's callers wait for their flushes too.
const maxInlineFlushes = maxImmediateBatch

// planInlineLocked picks the batch's new groups that are due at once — an
// immediate route's (see immediateWait) first notification — and plans
// their flush, to be recorded in the ingest's own transaction. A page with
// group_wait 0 then costs one transaction and one wait for the disk
// between its POST and its send, instead of the ingest's and then a
// flusher's; what is decided is what a flusher deciding right after the
// commit would decide.
//
// Groups are left to the flushers, as before, when Run is not flushing,
// when the batch changes an inhibition source (muting would be decided
// before the change is in memory), or when the silences cannot be read.
func (r *Router) planInlineLocked(ctx context.Context, p *ingestPlan) {
	if !r.running || len(p.newGroups) == 0 {
		return
	}
	var due []*group
	for _, g := range p.newGroups {
		if len(due) < maxInlineFlushes && g.opts.GroupWait < immediateWait &&
			!g.nextFlush.After(p.now) && r.holdsLocked(g) {
			due = append(due, g)
		}
	}
	if len(due) == 0 {
		return
	}
	for _, a := range p.final {
		if r.inhibit.isSource(a.Labels) {
			return
		}
	}
	if err := r.syncSilencesThrottledLocked(ctx, p.now); err != nil {
		return // a flusher tries, and says why it could not
	}
	ids := make(map[string]*group, len(due))
	for _, g := range due {
		ids[g.id] = g
	}
	for i, a := range p.final {
		for _, x := range p.routes[i] {
			if g := ids[x.id]; g != nil {
				g.alerts[a.Fingerprint()] = a
			}
		}
	}
	for _, g := range due {
		fp := r.planFlushLocked(g, p.now)
		if fp.n == nil {
			continue // nothing to notify: a flusher settles it
		}
		g.inFlight = true
		p.flushes = append(p.flushes, fp)
	}
	r.active.Add(int64(len(p.flushes)))
}

// dropInlineLocked gives the batch's planned flushes back to the flushers,
// when the transaction carrying them failed and the batch is written
// without them.
func (r *Router) dropInlineLocked(p *ingestPlan) {
	for _, fp := range p.flushes {
		fp.g.inFlight = false
	}
	r.active.Add(-int64(len(p.flushes)))
	p.flushes = nil
}

// recordInline records the batch's planned flushes inside its transaction.
func (r *Router) recordInline(ctx context.Context, tx *storage.Tx, p *ingestPlan) error {
	for _, fp := range p.flushes {
		if err := r.recordFlush(ctx, tx, fp, true); err != nil {
			return err
		}
	}
	return nil
}

// finishInlineLocked applies the committed inline flushes in memory, as a
// flusher does after its transaction, once the batch itself is applied.
func (r *Router) finishInlineLocked(p *ingestPlan) []settleWork {
	var works []settleWork
	for _, fp := range p.flushes {
		if w, ok := r.finishLocked(fp); ok {
			works = append(works, w)
		}
	}
	return works
}

// afterInline does what follows a flush once the batch is committed: the
// metrics, a poke of the outbox, the clean-up.
func (r *Router) afterInline(ctx context.Context, p *ingestPlan, works []settleWork) {
	if len(p.flushes) == 0 {
		return
	}
	woken := false
	for _, fp := range p.flushes {
		if fp.notHeld {
			r.logger.Debug("Flush skipped: slot taken over", "group", fp.g.key, "slot", fp.g.slot)
		}
		if fp.notified {
			r.metrics.notifications.WithLabelValues(string(fp.n.Reason)).Inc()
			r.metrics.inlineFlushes.Inc()
			if !woken && r.afterCommit != nil {
				woken = true
				r.afterCommit()
			}
		}
	}
	r.settle(ctx, works)
	r.active.Add(-int64(len(p.flushes)))
}

// isSource reports whether an alert with lset is a source of some rule:
// ingesting it may change what is inhibited.
func (ih *inhibitor) isSource(lset model.LabelSet) bool {
	for _, r := range ih.rules {
		if r.SourceMatchers.Matches(lset) {
			return true
		}
	}
	return false
}
