package router

import (
	"context"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"
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
	v, err := r.silenceVersion(ctx)
	if err != nil {
		return err
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

func (r *Router) silenceVersion(ctx context.Context) (silenceVersion, error) {
	var v silenceVersion
	err := r.db.QueryRow(ctx, `SELECT COALESCE(SUM(updated_at), 0), COUNT(*) FROM silences`).Scan(&v.sumUpdated, &v.count)
	if err != nil {
		return v, fmt.Errorf("check silences: %w", err)
	}
	return v, nil
}

// watchSilences keeps the silences checked while Run flushes, so that a
// flush, above all a page's first flush in the transaction of its ingest,
// finds them checked within silenceCheckInterval and waits for no query
// (on PostgreSQL a round trip of a few hundred microseconds): twice per
// interval it compares the table's version outside r.mu, so that ingest
// and flushes go on meanwhile, and reads the table under r.mu only when
// the version moved. Flushes still check for themselves when the silences
// were not checked recently (the database was away, or a test's clock
// jumped).
func (r *Router) watchSilences(ctx context.Context, t clockwork.Ticker) {
	defer r.flushing.Done()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			r.refreshSilences(ctx)
		}
	}
}

// refreshSilences is one look of watchSilences.
func (r *Router) refreshSilences(ctx context.Context) {
	start := r.clock.Now()
	v, err := r.silenceVersion(ctx)
	if err != nil {
		return // a flush checks for itself and says why it could not
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A silence this process wrote since the look (silChecked zero) has
	// its own version: read the table as a flush would.
	if v != r.silVer || r.silChecked.IsZero() {
		if err := r.syncSilencesLocked(ctx); err != nil {
			return
		}
	}
	// What is in memory is the table as of start at least.
	if start.After(r.silChecked) {
		r.silChecked = start
	}
}
