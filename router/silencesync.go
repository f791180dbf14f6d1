package router

import (
	"context"
	"fmt"
	"time"
)

// silenceCheckInterval is how often flushes look for silences changed by
// other replicas. Flushes come in bursts (a thousand groups falling due
// together); one check per burst is enough, and this process's own silence
// writes reset the wait, so they apply to the very next flush.
const silenceCheckInterval = 100 * time.Millisecond

// silenceVersion summarises the silences table: replicas sharing one
// database each keep the silences in memory, and compare this summary
// before using them to notice, with one cheap query, that another replica
// created, changed or expired one. Every write sets updated_at to the
// writer's now, so a write changes the sum (unless within the same
// millisecond as the one it replaces) and a deletion the count.
type silenceVersion struct {
	sumUpdated int64
	count      int64
}

// syncSilencesLocked re-reads the silences if the table changed since they
// were last read.
func (r *Router) syncSilencesLocked(ctx context.Context) error {
	var v silenceVersion
	err := r.db.QueryRow(ctx, `SELECT COALESCE(SUM(updated_at), 0), COUNT(*) FROM silences`).Scan(&v.sumUpdated, &v.count)
	if err != nil {
		return fmt.Errorf("check silences: %w", err)
	}
	if v == r.silVer {
		return nil
	}
	sils, err := readSilences(ctx, r.db)
	if err != nil {
		return err
	}
	r.silences = map[string]*Silence{}
	r.silenceIdx = newSilenceIndex()
	for _, s := range sils {
		r.putSilenceLocked(s)
	}
	r.silVer = v
	return nil
}

// syncSilencesThrottledLocked is syncSilencesLocked for flushes: it checks
// the table at most once per silenceCheckInterval of the router's clock,
// and always after a silence write of this process.
func (r *Router) syncSilencesThrottledLocked(ctx context.Context, now time.Time) error {
	if !r.silChecked.IsZero() && now.Sub(r.silChecked) < silenceCheckInterval && now.Sub(r.silChecked) >= 0 {
		return nil
	}
	if err := r.syncSilencesLocked(ctx); err != nil {
		return err
	}
	r.silChecked = now
	return nil
}
