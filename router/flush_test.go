package router

import (
	"context"
	"errors"
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
			r.flushBatch(ctx, batch)

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
