package router

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
)

// TestMergeAtMatchesUpstream checks that mergeAt, judged at the wall
// clock's time, merges as Alertmanager's Alert.Merge does, over random
// pairs of versions: firing, resolved, timed out, older and younger.
func TestMergeAtMatchesUpstream(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	at := func() time.Time {
		if rng.IntN(6) == 0 {
			return time.Time{}
		}
		return now.Add(time.Duration(rng.IntN(600)-300) * time.Second)
	}
	version := func() *alert.Alert {
		return alert.New(model.Alert{
			Labels:   model.LabelSet{"alertname": "A"},
			StartsAt: at(), EndsAt: at(),
		}, now.Add(time.Duration(rng.IntN(20)-10)*time.Second), rng.IntN(3) == 0)
	}
	for i := range 5000 {
		a, o := version(), version()
		want, got := a.Merge(o), mergeAt(a, o, time.Now())
		if !got.StartsAt.Equal(want.StartsAt) || !got.EndsAt.Equal(want.EndsAt) ||
			!got.UpdatedAt.Equal(want.UpdatedAt) || got.Timeout != want.Timeout {
			t.Fatalf("case %d: merge of %+v and %+v: got %+v, want %+v", i, a, o, got, want)
		}
	}
}
