package router

import (
	"time"

	"github.com/prometheus/alertmanager/alert"
)

// mergeAt is Alertmanager's Alert.Merge with "resolved" judged at now, the
// router's clock, instead of the wall clock that Alert.Resolved reads: the
// router decides everything else (flushes, timers, expiry) on its clock,
// and a merge judged on another could keep an old endsAt where the
// router's own view calls for the newer one. With the real clock both
// agree (TestMergeAtMatchesUpstream).
func mergeAt(a, o *alert.Alert, now time.Time) *alert.Alert {
	// Let o always be the younger alert.
	if o.UpdatedAt.Before(a.UpdatedAt) {
		a, o = o, a
	}
	res := *o
	// Always pick the earliest starting time.
	if a.StartsAt.Before(o.StartsAt) {
		res.StartsAt = a.StartsAt
	}
	if o.ResolvedAt(now) {
		// The latest explicit resolved timestamp wins if both alerts are
		// effectively resolved.
		if a.ResolvedAt(now) && a.EndsAt.After(o.EndsAt) {
			res.EndsAt = a.EndsAt
		}
	} else if a.EndsAt.After(o.EndsAt) && !a.Timeout {
		// A non-timeout timestamp always rules if it is the latest.
		res.EndsAt = a.EndsAt
	}
	return &res
}
