package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/klaxon-dev/klaxon/storage"
)

// Slots is how many hash slots alert groups are spread over. Replicas
// sharing a database each hold a share of the slots and flush only the
// groups in their slots; every replica ingests and serves every alert.
const Slots = 128

// SlotOf returns the slot of the group with id groupID. Group ids are hex
// digests, so their leading digits are spread evenly.
func SlotOf(groupID string) int {
	if len(groupID) < 8 {
		groupID += "00000000"
	}
	v, err := strconv.ParseUint(groupID[:8], 16, 32)
	if err != nil {
		return 0
	}
	return int(v % Slots)
}

// Fence tells, inside a flush's transaction, whether this replica still
// holds a slot; on PostgreSQL it locks the slot's lease against a takeover
// until the transaction ends, so that a flush and its notification log
// entry are either committed before another replica takes the slot over
// and reads the log, or not at all.
type Fence interface {
	Holds(ctx context.Context, tx *storage.Tx, slot int) (bool, error)
	// HoldsLater is Holds sent with tx's next statement that is read;
	// check reports the answer.
	HoldsLater(ctx context.Context, tx *storage.Tx, slot int) (check func() (bool, error), err error)
}

// errNotHeld ends a flush whose slot another replica took over.
var errNotHeld = errors.New("slot no longer held by this replica")

// clustered reports whether this router shares its database with other
// replicas and flushes only the groups of the slots it holds.
func (r *Router) clustered() bool { return r.fence != nil }

// holdsLocked reports whether this router flushes group g.
func (r *Router) holdsLocked(g *group) bool {
	return !r.clustered() || r.held[g.slot]
}

// HeldSlots returns the slots whose groups this router flushes, in order.
func (r *Router) HeldSlots() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for s, ok := range r.held {
		if ok || !r.clustered() {
			out = append(out, s)
		}
	}
	return out
}

// AcquireSlots makes this router the flusher of slots, which the caller
// has just leased in the database. The alerts, group timers and
// notification log of those slots are read afresh first: the previous
// holder's flushes are committed (its fence kept the lease until they
// were), so this router carries on exactly where it stopped, without
// notifying again what it already notified.
func (r *Router) AcquireSlots(ctx context.Context, slots []int) error {
	if len(slots) == 0 {
		return nil
	}
	// Two reads: the second drops alerts that the table lost since this
	// replica last read it (see Sync).
	for range 2 {
		if err := r.Sync(ctx); err != nil {
			return err
		}
	}
	rows, err := loadGroups(ctx, r.db)
	if err != nil {
		return err
	}
	nflog, err := loadNflog(ctx, r.db, r.clock.Now())
	if err != nil {
		return err
	}
	want := make([]bool, Slots)
	for _, s := range slots {
		if s >= 0 && s < Slots {
			want[s] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.nflog {
		if want[SlotOf(id)] && nflog[id] == nil {
			delete(r.nflog, id)
		}
	}
	for id, e := range nflog {
		if want[SlotOf(id)] {
			r.nflog[id] = e
		}
	}
	for _, g := range r.groups {
		if !want[g.slot] {
			continue
		}
		if row, ok := rows[g.id]; ok {
			g.createdAt, g.nextFlush, g.flushed = row.createdAt, row.nextFlush, row.flushed
		}
		g.sent = r.nflog[g.id]
		r.sched.push(g)
	}
	for s, ok := range want {
		if ok {
			r.held[s] = true
		}
	}
	r.kick()
	return nil
}

// ReleaseSlots stops this router flushing the groups of slots, before the
// caller hands their leases back. A flush already under way finishes or
// fails on its fence.
func (r *Router) ReleaseSlots(slots []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range slots {
		if s >= 0 && s < Slots {
			r.held[s] = false
		}
	}
}

// checkFence fails a flush's transaction if g's slot was taken over.
func (r *Router) checkFence(ctx context.Context, tx *storage.Tx, g *group) error {
	if !r.clustered() {
		return nil
	}
	ok, err := r.fence.Holds(ctx, tx, g.slot)
	if err != nil {
		return fmt.Errorf("check slot lease: %w", err)
	}
	if !ok {
		return errNotHeld
	}
	return nil
}
