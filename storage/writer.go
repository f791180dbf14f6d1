package storage

import (
	"context"
	"sync"
	"time"
)

// writerQueue hands SQLite's single writer turn to this process's writers
// in Go, in arrival order, with one exception: writers whose context is
// marked Urgent (an alert batch being committed, the flush of a group that
// has just fallen due) go before the others, so that a page does not wait
// behind a queue of bulk work, such as the flushes of a thousand groups
// falling due together and the records of their deliveries. A writer that
// has waited maxBypassed is not passed any more, so bulk work is delayed,
// never starved.
type writerQueue struct {
	mu     sync.Mutex
	held   bool
	urgent []*writerWaiter
	normal []*writerWaiter
}

type writerWaiter struct {
	turn  chan struct{} // closed when the turn is handed to this waiter
	since time.Time
	given bool // guarded by writerQueue.mu
}

// maxBypassed is how long a waiting writer may be passed by urgent ones.
const maxBypassed = 50 * time.Millisecond

type urgentKey struct{}

// Urgent marks ctx so that the SQLite writers it runs (InTx, Exec) go
// ahead of unmarked ones waiting for the writer turn. PostgreSQL has no
// single writer; there the mark changes nothing.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

func isUrgent(ctx context.Context) bool {
	u, _ := ctx.Value(urgentKey{}).(bool)
	return u
}

// lock waits for the turn and reports whether it got it; after wait, or
// when ctx ends, it gives up and reports false.
func (q *writerQueue) lock(ctx context.Context, wait time.Duration) bool {
	q.mu.Lock()
	if !q.held {
		q.held = true
		q.mu.Unlock()
		return true
	}
	w := &writerWaiter{turn: make(chan struct{}), since: time.Now()}
	urgent := isUrgent(ctx)
	if urgent {
		q.urgent = append(q.urgent, w)
	} else {
		q.normal = append(q.normal, w)
	}
	q.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.turn:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if w.given {
		// Handed over while giving up: take it after all.
		return true
	}
	if urgent {
		q.urgent = removeWaiter(q.urgent, w)
	} else {
		q.normal = removeWaiter(q.normal, w)
	}
	return false
}

// unlock hands the turn to the next waiter, if any.
func (q *writerQueue) unlock() {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next *writerWaiter
	switch {
	case len(q.urgent) > 0 && (len(q.normal) == 0 || time.Since(q.normal[0].since) < maxBypassed):
		next, q.urgent = q.urgent[0], q.urgent[1:]
	case len(q.normal) > 0:
		next, q.normal = q.normal[0], q.normal[1:]
	default:
		q.held = false
		return
	}
	next.given = true
	close(next.turn)
}

func removeWaiter(ws []*writerWaiter, w *writerWaiter) []*writerWaiter {
	for i, x := range ws {
		if x == w {
			return append(ws[:i], ws[i+1:]...)
		}
	}
	return ws
}
