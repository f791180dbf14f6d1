// Package gctune keeps Go's garbage collector from running back to back
// while the live heap is small.
//
// The collector's target is a percentage of the live heap (GOGC): with a
// small heap and a burst of allocation, such as a thousand alert groups
// falling due together, a collection starts every few dozen milliseconds
// and takes CPU, and assists from whoever allocates, from the pages being
// sent meanwhile. Klaxon's heap is mostly the alerts it holds, so a low
// percentage is right for a large heap, where it saves memory, and wrong
// for a small one, where it saves little. The tuner raises the percentage
// after each collection so that at least a minimum of headroom is left to
// allocate before the next, and leaves it at its base once the live heap
// is large enough to give that headroom itself.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// maxPercent bounds the percentage set, for a nearly empty heap.
const maxPercent = 1000

// Tuner sets the collector's percentage after every collection.
type Tuner struct {
	base     int
	headroom uint64
	stopped  atomic.Bool
	adjusts  atomic.Int64 // collections seen, for tests

	mu      sync.Mutex
	current int
	sample  []metrics.Sample
}

// Start sets the collector's target to base percent of the live heap, or
// more while that would leave less than headroom bytes between
// collections, re-computed after every collection until Stop.
func Start(base int, headroom uint64) *Tuner {
	t := &Tuner{base: base, headroom: headroom, current: base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	debug.SetGCPercent(base)
	t.arm()
	return t
}

// Stop leaves the percentage at its base and stops tuning it.
func (t *Tuner) Stop() {
	t.stopped.Store(true)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.current = t.base
	debug.SetGCPercent(t.base)
}

// sentinel is garbage whose finalizer runs once per collection. It holds a
// pointer so that it is not placed in a tiny-allocator block, whose
// finalizers may never run.
type sentinel struct {
	_ *int
	_ [8]byte
}

func (t *Tuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

// percentFor is the percentage that leaves at least headroom bytes above
// a live heap of live bytes, and not less than base.
func percentFor(base int, headroom, live uint64) int {
	if live == 0 {
		return maxPercent
	}
	p := headroom * 100 / live
	if p > maxPercent {
		return maxPercent
	}
	return max(base, int(p))
}

func (t *Tuner) adjust() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return
	}
	t.adjusts.Add(1)
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := percentFor(t.base, t.headroom, t.sample[0].Value.Uint64())
	if p != t.current {
		t.current = p
		debug.SetGCPercent(p)
	}
}

// Percent returns the percentage last set.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current
}
