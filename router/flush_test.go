package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// failingSink fails the flush of one group and counts the others' calls.
type failingSink struct {
	mu    sync.Mutex
	fail  string // alertname of the group that fails
	calls map[string]int
}

func (s *failingSink) Flush(_ context.Context, _ *storage.Tx, n *Notification) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := string(n.GroupLabels["alertname"])
	s.calls[name]++
	if name == s.fail {
		return false, errors.New("sink refuses this group")
	}
	return true, nil
}

// TestFlushBatchIsolatesFailingGroup flushes three due groups together
// while the Sink fails one of them: the batch's shared transaction fails,
// each group is flushed again alone, the other two are recorded in the
// notification log (in memory and in the database) and the failing one is
// not, and waits to be tried again.
func TestFlushBatchIsolatesFailingGroup(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			db := storagetest.Open(t, dialect)
			clock := clockwork.NewFakeClockAt(epoch)
			cfg, err := amconfig.Load(testConfig)
			if err != nil {
				t.Fatal(err)
			}
			sink := &failingSink{fail: "B", calls: map[string]int{}}
			r := New(Options{DB: db, Clock: clock, Sink: sink, Registerer: prometheus.NewRegistry()})
			ctx := context.Background()
			if err := r.ApplyConfig(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if err := r.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Ingest(ctx, []*alert.Alert{firing("A", "x", epoch), firing("B", "x", epoch), firing("C", "x", epoch)}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(30 * time.Second)
			r.mu.Lock()
			var batch []*group
			for _, g := range r.groups {
				g.inFlight = true
				batch = append(batch, g)
			}
			r.mu.Unlock()
			r.flushBatch(ctx, batch, false)

			stored, err := loadNflog(ctx, db, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			var logged, inMemory []string
			for _, g := range r.groups {
				name := string(g.labels["alertname"])
				if stored[g.id] != nil {
					logged = append(logged, name)
				}
				if r.nflog[g.id] != nil {
					inMemory = append(inMemory, name)
				}
				if g.inFlight {
					t.Errorf("group %s still in flight", name)
				}
				want := clock.Now().Add(5 * time.Minute)
				if name == "B" {
					want = clock.Now().Add(retryAfterFailure)
				}
				if !g.nextFlush.Equal(want) {
					t.Errorf("group %s next flush at %v, want %v", name, g.nextFlush, want)
				}
			}
			sort.Strings(logged)
			sort.Strings(inMemory)
			if len(logged) != 2 || logged[0] != "A" || logged[1] != "C" {
				t.Errorf("groups in the stored notification log: %v, want [A C]", logged)
			}
			if len(inMemory) != 2 || inMemory[0] != "A" || inMemory[1] != "C" {
				t.Errorf("groups in the notification log in memory: %v, want [A C]", inMemory)
			}
			// Once in the shared transaction and once alone.
			if sink.calls["B"] != 2 {
				t.Errorf("failing group handed to the sink %d times, want 2", sink.calls["B"])
			}
		})
	}
}

// gateSink holds the flush of every group named Backlog* until released,
// and records the order in which groups were handed to it.
type gateSink struct {
	gate    chan struct{}
	mu      sync.Mutex
	flushed []string
}

func (s *gateSink) Flush(_ context.Context, _ *storage.Tx, n *Notification) (bool, error) {
	name := string(n.GroupLabels["alertname"])
	if len(name) >= 7 && name[:7] == "Backlog" {
		<-s.gate
	}
	s.mu.Lock()
	s.flushed = append(s.flushed, name)
	s.mu.Unlock()
	return true, nil
}

func (s *gateSink) seen(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.flushed, name)
}

// TestImmediateGroupPassesBusyFlushers checks the immediate lane: while
// every flusher is held by a backlog of groups that fell due together, the
// first notification of a group on a group_wait 0s route is flushed at
// once instead of waiting for a flusher to finish its batch; the backlog
// is flushed afterwards, none lost. PostgreSQL only: on SQLite the held
// backlog transaction holds the single writer, which the lane then waits
// for, as it should.
func TestImmediateGroupPassesBusyFlushers(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	clock := clockwork.NewFakeClockAt(epoch)
	cfg, err := amconfig.Load(`
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  routes:
    - receiver: team
      matchers: ['page="now"']
      group_wait: 0s
receivers:
  - name: team
`)
	if err != nil {
		t.Fatal(err)
	}
	sink := &gateSink{gate: make(chan struct{})}
	r := New(Options{DB: db, Clock: clock, Sink: sink, Registerer: prometheus.NewRegistry()})
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.ApplyConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	released := false
	release := func() {
		if !released {
			released = true
			close(sink.gate)
		}
	}
	t.Cleanup(func() { release(); cancel(); <-done })

	// Enough groups falling due together to hold every flusher.
	backlog := r.maxFlushers() * r.maxFlushBatch()
	var alerts []*alert.Alert
	for i := range backlog {
		alerts = append(alerts, firing(fmt.Sprintf("Backlog%03d", i), "x", epoch))
	}
	if err := r.Ingest(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	waitFor(t, "every flusher held by the backlog", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.flushers == r.maxFlushers()
	})

	page := firing("Page", "x", clock.Now())
	page.Labels["page"] = "now"
	if err := r.Ingest(ctx, []*alert.Alert{page}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the immediate group flushed while the backlog is held", func() bool {
		return sink.seen("Page")
	})
	for i := range backlog {
		if name := fmt.Sprintf("Backlog%03d", i); sink.seen(name) {
			t.Fatalf("%s flushed while held", name)
		}
	}

	release()
	waitFor(t, "the whole backlog flushed", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.flushed) == backlog+1
	})
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
