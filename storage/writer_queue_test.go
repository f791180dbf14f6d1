package storage

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// long is a wait for the turn that no test reaches: a waiter that gives up
// on it would show as a failure of the order under test, not pass by luck.
const long = time.Minute

// queued waits until q has the given numbers of urgent and normal waiters,
// so that a test knows a goroutine is queued before it unlocks, without
// guessing a sleep.
func queued(t *testing.T, q *writerQueue, urgent, normal int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		u, n := len(q.urgent), len(q.normal)
		q.mu.Unlock()
		if u == urgent && n == normal {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue has %d urgent and %d normal waiters, want %d and %d", u, n, urgent, normal)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitTurn runs q.lock on a new goroutine and reports its result on the
// returned channel.
func waitTurn(q *writerQueue, ctx context.Context, wait time.Duration) <-chan bool {
	got := make(chan bool, 1)
	go func() { got <- q.lock(ctx, wait) }()
	return got
}

// notYet fails if the waiter behind got already has the turn.
func notYet(t *testing.T, got <-chan bool, who string) {
	t.Helper()
	select {
	case ok := <-got:
		t.Fatalf("%s returned from lock (%v) while the turn was held", who, ok)
	default:
	}
}

func receive(t *testing.T, got <-chan bool, who string) bool {
	t.Helper()
	select {
	case ok := <-got:
		return ok
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never returned from lock", who)
		return false
	}
}

// free checks that the queue is back to its idle state: nobody holds the
// turn and nobody waits. A turn handed to no one would leave held set.
func free(t *testing.T, q *writerQueue) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held || len(q.urgent) != 0 || len(q.normal) != 0 {
		t.Fatalf("queue not idle: held=%v, %d urgent and %d normal waiters", q.held, len(q.urgent), len(q.normal))
	}
}

func TestWriterQueueFreeTurn(t *testing.T) {
	var q writerQueue
	ctx := context.Background()
	mustLock(t, &q, ctx)
	unlockFree(t, &q)
	// A free turn is taken even by a writer whose context has ended: it
	// has nothing to wait for.
	done, cancel := context.WithCancel(ctx)
	cancel()
	mustLock(t, &q, done)
	unlockFree(t, &q)
}

// TestWriterQueueUrgentFirst checks that an urgent waiter goes ahead of a
// normal one that queued before it, and that the normal one is served
// next.
func TestWriterQueueUrgentFirst(t *testing.T) {
	var q writerQueue
	ctx := context.Background()
	mustLock(t, &q, ctx)
	normal := waitTurn(&q, ctx, long)
	queued(t, &q, 0, 1)
	urgent := waitTurn(&q, Urgent(ctx), long)
	queued(t, &q, 1, 1)

	q.unlock()
	if !receive(t, urgent, "urgent waiter") {
		t.Fatal("urgent waiter did not get the turn")
	}
	notYet(t, normal, "normal waiter")
	queued(t, &q, 0, 1)

	q.unlock() // on behalf of the urgent waiter
	if !receive(t, normal, "normal waiter") {
		t.Fatal("normal waiter did not get the turn")
	}
	unlockFree(t, &q)
}

// TestWriterQueueArrivalOrder checks that waiters of one kind are served
// in the order they came.
func TestWriterQueueArrivalOrder(t *testing.T) {
	for _, kind := range []string{"normal", "urgent"} {
		t.Run(kind, func(t *testing.T) {
			var q writerQueue
			ctx := context.Background()
			counts := func(n int) (int, int) { return 0, n }
			if kind == "urgent" {
				ctx = Urgent(ctx)
				counts = func(n int) (int, int) { return n, 0 }
			}
			mustLock(t, &q, ctx)
			const n = 5
			var waiters []<-chan bool
			for i := range n {
				waiters = append(waiters, waitTurn(&q, ctx, long))
				u, m := counts(i + 1)
				queued(t, &q, u, m)
			}
			for i, w := range waiters {
				q.unlock()
				if !receive(t, w, "waiter") {
					t.Fatalf("waiter %d did not get the turn", i)
				}
				for _, later := range waiters[i+1:] {
					notYet(t, later, "a later waiter")
				}
			}
			unlockFree(t, &q)
		})
	}
}

// TestWriterQueueBypassLimit checks that a normal waiter that has waited
// maxBypassed is served before an urgent one, and one that has not is
// passed. The waiters' arrival times are set directly instead of slept
// for.
func TestWriterQueueBypassLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		waited     time.Duration
		normalNext bool
	}{
		{"fresh", 0, false},
		{"at limit", maxBypassed, true},
		{"long", time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			normal := &writerWaiter{turn: make(chan struct{}), since: now.Add(-tc.waited)}
			urgent := &writerWaiter{turn: make(chan struct{}), since: now}
			q := writerQueue{held: true, normal: []*writerWaiter{normal}, urgent: []*writerWaiter{urgent}}
			q.unlock()
			first, second := urgent, normal
			if tc.normalNext {
				first, second = normal, urgent
			}
			if !isClosed(first.turn) || !first.given {
				t.Fatal("the expected waiter did not get the turn")
			}
			if isClosed(second.turn) || second.given {
				t.Fatal("both waiters got the turn")
			}
			q.unlock()
			if !isClosed(second.turn) || !second.given {
				t.Fatal("the other waiter did not get the turn next")
			}
			q.unlock()
			if q.held {
				t.Fatal("turn still held with no waiter")
			}
		})
	}
}

// TestWriterQueueBypassLimitLive is TestWriterQueueBypassLimit through
// lock: a normal waiter queued by lock, aged past maxBypassed, goes ahead
// of an urgent one that came later.
func TestWriterQueueBypassLimitLive(t *testing.T) {
	var q writerQueue
	ctx := context.Background()
	mustLock(t, &q, ctx)
	normal := waitTurn(&q, ctx, long)
	queued(t, &q, 0, 1)
	q.mu.Lock()
	q.normal[0].since = time.Now().Add(-2 * maxBypassed)
	q.mu.Unlock()
	urgent := waitTurn(&q, Urgent(ctx), long)
	queued(t, &q, 1, 1)

	q.unlock()
	if !receive(t, normal, "normal waiter") {
		t.Fatal("normal waiter did not get the turn")
	}
	notYet(t, urgent, "urgent waiter")
	q.unlock()
	if !receive(t, urgent, "urgent waiter") {
		t.Fatal("urgent waiter did not get the turn")
	}
	unlockFree(t, &q)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestWriterQueueGiveUp checks that a waiter whose context ends, or whose
// wait runs out, reports false and leaves the queue, and that the turn is
// then neither handed to it nor lost.
func TestWriterQueueGiveUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		urgent bool
		expire bool // by wait instead of by cancel
	}{
		{"normal cancelled", false, false},
		{"urgent cancelled", true, false},
		{"normal wait over", false, true},
		{"urgent wait over", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q writerQueue
			bg := context.Background()
			mustLock(t, &q, bg)
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			if tc.urgent {
				ctx = Urgent(ctx)
			}
			wait := long
			if tc.expire {
				wait = time.Millisecond
			}
			quitter := waitTurn(&q, ctx, wait)
			if !tc.expire {
				if tc.urgent {
					queued(t, &q, 1, 0)
				} else {
					queued(t, &q, 0, 1)
				}
				cancel()
			}
			if receive(t, quitter, "giving-up waiter") {
				t.Fatal("a waiter that gave up reported the turn")
			}
			queued(t, &q, 0, 0)

			// A waiter behind it gets the turn on the next unlock.
			next := waitTurn(&q, bg, long)
			queued(t, &q, 0, 1)
			q.unlock()
			if !receive(t, next, "next waiter") {
				t.Fatal("the next waiter did not get the turn")
			}
			unlockFree(t, &q)

			// And with nobody waiting, the turn is free again.
			mustLock(t, &q, bg)
			unlockFree(t, &q)
		})
	}
}

// TestWriterQueueGiveUpAlone checks that an unlock after the only waiter
// gave up frees the turn instead of handing it to the departed waiter.
func TestWriterQueueGiveUpAlone(t *testing.T) {
	var q writerQueue
	bg := context.Background()
	mustLock(t, &q, bg)
	ctx, cancel := context.WithCancel(Urgent(bg))
	quitter := waitTurn(&q, ctx, long)
	queued(t, &q, 1, 0)
	cancel()
	if receive(t, quitter, "cancelled waiter") {
		t.Fatal("a cancelled waiter reported the turn")
	}
	unlockFree(t, &q)
	got := waitTurn(&q, bg, long)
	if !receive(t, got, "new writer") {
		t.Fatal("lock after the cancelled waiter left failed")
	}
	unlockFree(t, &q)
}

// TestWriterQueueMutualExclusion runs many writers, urgent and not, some
// giving up early, and checks that no two ever hold the turn at once and
// that the turn is free at the end (none was lost to a departed waiter).
func TestWriterQueueMutualExclusion(t *testing.T) {
	// Long for writers that hold the turn for an instant, short enough
	// that a lost turn fails the test instead of hanging it.
	const stressWait = 10 * time.Second
	var (
		q       writerQueue
		holders atomic.Int32
		served  atomic.Int32
		wg      sync.WaitGroup
	)
	const writers, each = 32, 200
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ctx := context.Background()
				if (w+i)%3 == 0 {
					ctx = Urgent(ctx)
				}
				wait := stressWait
				var cancel context.CancelFunc = func() {}
				switch (w + i) % 7 {
				case 0:
					// Gives up soon: races its departure against the
					// handover of the turn.
					wait = time.Duration(i%3) * time.Microsecond
				case 1:
					ctx, cancel = context.WithTimeout(ctx, time.Duration(i%5)*time.Microsecond)
				}
				ok := q.lock(ctx, wait)
				cancel()
				if !ok {
					if wait == stressWait && ctx.Err() == nil {
						// Holders let go at once: a patient writer
						// that waited this long was not handed a turn
						// that someone lost.
						t.Error("a patient writer never got the turn")
						return
					}
					continue
				}
				if n := holders.Add(1); n != 1 {
					t.Errorf("%d writers hold the turn", n)
				}
				served.Add(1)
				holders.Add(-1)
				q.unlock()
			}
		})
	}
	wg.Wait()
	free(t, &q)
	if served.Load() == 0 {
		t.Fatal("no writer got the turn")
	}
}

// mustLock takes the turn of q, which must be free or come within long.
func mustLock(t *testing.T, q *writerQueue, ctx context.Context) {
	t.Helper()
	if !q.lock(ctx, long) {
		t.Fatal("lock failed")
	}
}

// unlockFree gives the turn back and checks that q is then free.
func unlockFree(t *testing.T, q *writerQueue) {
	t.Helper()
	q.unlock()
	free(t, q)
}
