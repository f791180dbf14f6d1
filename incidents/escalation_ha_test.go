package incidents

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
)

// TestEscalationStepRunsOnceAcrossReplicas runs the escalation loops of
// several replicas on one PostgreSQL database at the moment a step falls
// due: the step pages once, not once per replica.
func TestEscalationStepRunsOnceAcrossReplicas(t *testing.T) {
	db := storagetest.Open(t, "postgres")
	first := newWorkFixture(t, db, workConfig)
	first.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
	replicas := []*fixture{first}
	for range 3 {
		replicas = append(replicas, newWorkFixture(t, db, workConfig))
	}
	due := t0.Add(5 * time.Minute)
	before := len(first.q.msgs)
	for round := range 5 {
		var wg sync.WaitGroup
		for _, f := range replicas {
			f.clk.Advance(due.Add(time.Duration(round) * time.Second).Sub(f.clk.Now()))
			wg.Go(func() {
				if _, err := f.s.RunDue(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	var got []string
	for i, f := range replicas {
		from := 0
		if i == 0 {
			from = before
		}
		got = append(got, f.receivers(from)...)
	}
	// Step 2 pages bob and the team, once.
	if len(got) != 2 {
		t.Fatalf("step 2 queued %v across replicas, want bob's webhook and team once", got)
	}
}
