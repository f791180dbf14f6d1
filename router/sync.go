package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/storage"
)

// DefaultSyncInterval is how often a clustered router reads the alerts
// table for alerts that other replicas ingested.
const DefaultSyncInterval = time.Second

// aloneSyncInterval is how often a replica that is, and has been since its
// last read, the only live one reads the alerts table all the same: there
// is nothing for it to find unless a replica wrote alerts and died before
// its first heartbeat announced it.
const aloneSyncInterval = time.Minute

// peerWatcher is implemented by a Fence that knows the live replicas
// (cluster.Member).
type peerWatcher interface {
	Alone() (alone bool, epoch uint64)
}

// syncState records, under r.mu, the last full read of the alerts table.
type syncState struct {
	known bool      // a read (or Load) happened
	alone bool      // this replica was alone when it began
	epoch uint64    // the peer epoch when it began
	at    time.Time // when it began
}

// peerState returns what the fence knows of the live replicas; without a
// peerWatcher the replica never counts as alone.
func (r *Router) peerState() (alone bool, epoch uint64) {
	if w, ok := r.fence.(peerWatcher); ok {
		return w.Alone()
	}
	return false, 0
}

// syncNeeded reports whether a read of the alerts table could find
// anything: not while this replica has been the only live one since the
// last read began (its own writes are in memory already), except every
// aloneSyncInterval.
func (r *Router) syncNeeded() bool {
	alone, epoch := r.peerState()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lastSync
	return !(s.known && s.alone && alone && s.epoch == epoch && r.clock.Since(s.at) < aloneSyncInterval)
}

// noteSyncLocked records that a full read of the table began at start,
// with the peers as they were then.
func (r *Router) noteSyncLocked(alone bool, epoch uint64, start time.Time) {
	r.lastSync = syncState{known: true, alone: alone, epoch: epoch, at: start}
}

// storedAlert is a row of the alerts table.
type storedAlert struct {
	lbl, ann, gen         string
	starts, ends, updated int64
	timeout               bool
}

func (s *storedAlert) decode() (*alert.Alert, error) {
	var m model.Alert
	if err := json.Unmarshal([]byte(s.lbl), &m.Labels); err != nil {
		return nil, fmt.Errorf("stored alert labels: %w", err)
	}
	if err := json.Unmarshal([]byte(s.ann), &m.Annotations); err != nil {
		return nil, fmt.Errorf("stored alert annotations: %w", err)
	}
	m.StartsAt, m.EndsAt, m.GeneratorURL = storage.Time(s.starts), storage.Time(s.ends), s.gen
	return alert.New(m, storage.Time(s.updated), s.timeout), nil
}

// RunSync keeps a clustered router's alerts in step with the alerts table
// until ctx ends: every replica ingests, so the table, not any replica's
// memory, holds every alert. A failed read (the database away) is retried
// on the next tick.
func (r *Router) RunSync(ctx context.Context, interval time.Duration) {
	if !r.clustered() {
		return
	}
	if interval <= 0 {
		interval = DefaultSyncInterval
	}
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(interval):
		}
		if !r.syncNeeded() {
			continue
		}
		err := r.Sync(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			r.logger.Warn("Reading alerts of other replicas failed; will retry", "err", err)
		case err == nil && failing:
			failing = false
			r.logger.Info("Reading alerts of other replicas works again")
		}
	}
}

// Sync reads the alerts table and merges into memory what other replicas
// wrote: new alerts join their groups (the group's timers taken from its
// row, as the replica that formed it stored them), newer versions replace
// older ones as an ingest would, and resolved alerts that the flushing
// replica deleted leave the groups of other replicas' slots.
//
// A replica alone in the cluster skips the read in RunSync (syncNeeded);
// Sync itself always reads everything.
func (r *Router) Sync(ctx context.Context) error {
	alone, epoch := r.peerState()
	start := r.clock.Now()
	versions, err := readVersions(ctx, r.db)
	if err != nil {
		return err
	}
	// Read whole only the rows that changed: most are the versions held
	// already.
	r.mu.Lock()
	var changed []string
	for _, v := range versions {
		if m := r.alerts[v.fp]; m == nil || storage.Millis(m.UpdatedAt) < v.updated {
			changed = append(changed, v.fp.String())
		}
	}
	r.mu.Unlock()
	fresh, err := readAlertsByFingerprint(ctx, r.db, changed)
	if err != nil {
		return err
	}
	inTable := make(map[model.Fingerprint]struct{}, len(versions))
	for _, v := range versions {
		inTable[v.fp] = struct{}{}
	}
	// Groups new to this replica take their timers from their rows.
	r.mu.Lock()
	var newGroups []string
	if r.tree != nil {
		seen := map[string]bool{}
		for _, a := range fresh {
			for _, rt := range r.tree.Match(a.Labels) {
				id, _, _ := r.groupIDs.identity(r.tree, rt, a.Labels)
				if r.groups[id] == nil && !seen[id] {
					seen[id] = true
					newGroups = append(newGroups, id)
				}
			}
		}
	}
	r.mu.Unlock()
	rows, err := loadGroupsByID(ctx, r.db, newGroups)
	if err != nil {
		return err
	}

	// Ingest batches, reloads and Load are the other writers of alerts
	// and groups.
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tree == nil {
		return nil
	}
	now := r.clock.Now()
	for _, d := range fresh {
		fp := d.Fingerprint()
		m := r.alerts[fp]
		switch {
		case m == nil && d.ResolvedAt(now):
			// Never seen firing here: nothing of it is to be notified.
			continue
		case m != nil && !m.UpdatedAt.Before(d.UpdatedAt):
			continue // an ingest here was newer
		case m != nil && overlaps(m, d):
			d = mergeAt(m, d, now)
		}
		r.alerts[fp] = d
		r.inhibit.set(d)
		for _, rt := range r.tree.Match(d.Labels) {
			id, key, labels := r.groupIDs.identity(r.tree, rt, d.Labels)
			g := r.groups[id]
			if g == nil {
				g = newGroup(id, key, labels, rt, now)
				if row, ok := rows[id]; ok {
					g.createdAt, g.nextFlush, g.flushed = row.createdAt, row.nextFlush, row.flushed
				}
				g.sent = r.nflog[id]
				r.groups[id] = g
			}
			g.alerts[fp] = d
			if !g.flushed && d.StartsAt.Add(g.opts.GroupWait).Before(now) && g.nextFlush.After(now) {
				g.nextFlush = now
			}
			r.sched.push(g)
		}
	}
	// Alerts gone from the table were resolved and deleted by the replica
	// that flushed them, or an earlier one; an alert held here in an older
	// version (a resolution that this replica did not read before the row
	// went) must not come back to life when this replica flushes its
	// group. Memory holds only committed alerts, but one committed after
	// this read began may be missing from it: an alert leaves memory only
	// when two reads in a row missed it and it did not change in between.
	gone := map[model.Fingerprint]*alert.Alert{}
	for fp, a := range r.alerts {
		if _, ok := inTable[fp]; ok || !a.UpdatedAt.Before(start) {
			continue
		}
		if _, ok := r.lazy[fp]; ok {
			continue
		}
		if r.syncGone[fp] != a {
			gone[fp] = a // missed once: looked at again next time
			continue
		}
		r.dropLocked(a)
	}
	r.syncGone = gone
	r.noteSyncLocked(alone, epoch, start)
	r.metrics.groups.Set(float64(len(r.groups)))
	r.kick()
	return nil
}

// version is a row of the alerts table reduced to what tells whether it
// changed.
type version struct {
	fp      model.Fingerprint
	updated int64
}

func readVersions(ctx context.Context, db *storage.DB) ([]version, error) {
	rows, err := db.Query(ctx, `SELECT fingerprint, updated_at FROM alerts`)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		var (
			v  version
			fp string
		)
		if err := rows.Scan(&fp, &v.updated); err != nil {
			return nil, err
		}
		if v.fp, err = model.ParseFingerprint(fp); err != nil {
			return nil, fmt.Errorf("stored alert fingerprint %q: %w", fp, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return out, nil
}

// readBatch is how many rows one IN list names.
const readBatch = 500

func readAlertsByFingerprint(ctx context.Context, db *storage.DB, fps []string) ([]*alert.Alert, error) {
	var out []*alert.Alert
	for len(fps) > 0 {
		n := min(len(fps), readBatch)
		rows, err := db.Query(ctx, `SELECT labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout
			FROM alerts WHERE fingerprint IN (`+placeholders(n)+`)`, stringsToAny(fps[:n])...)
		if err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		for rows.Next() {
			var s storedAlert
			if err := rows.Scan(&s.lbl, &s.ann, &s.starts, &s.ends, &s.gen, &s.updated, &s.timeout); err != nil {
				rows.Close()
				return nil, err
			}
			a, err := s.decode()
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		fps = fps[n:]
	}
	return out, nil
}

func loadGroupsByID(ctx context.Context, db *storage.DB, ids []string) (map[string]groupRow, error) {
	out := map[string]groupRow{}
	for len(ids) > 0 {
		n := min(len(ids), readBatch)
		rows, err := db.Query(ctx, `SELECT id, created_at, next_flush_at, flushed FROM alert_groups WHERE id IN (`+placeholders(n)+`)`,
			stringsToAny(ids[:n])...)
		if err != nil {
			return nil, fmt.Errorf("read groups: %w", err)
		}
		for rows.Next() {
			var (
				id            string
				created, next int64
				flushed       bool
			)
			if err := rows.Scan(&id, &created, &next, &flushed); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = groupRow{storage.Time(created), storage.Time(next), flushed}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read groups: %w", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func stringsToAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// dropLocked removes an alert deleted from the table from memory and from
// the groups holding it; a group left empty goes too (its row went with
// the flush that emptied it).
func (r *Router) dropLocked(a *alert.Alert) {
	fp := a.Fingerprint()
	for _, rt := range r.tree.Match(a.Labels) {
		id, _, _ := r.groupIDs.identity(r.tree, rt, a.Labels)
		g := r.groups[id]
		if g == nil || g.alerts[fp] != a {
			continue
		}
		delete(g.alerts, fp)
		if len(g.alerts) == 0 && !g.inFlight {
			delete(r.groups, id)
			r.sched.remove(g)
		}
	}
	if r.alerts[fp] == a {
		delete(r.alerts, fp)
		r.inhibit.remove(a)
	}
}
