package rules

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// leaseDuration is how long a replica owns the rules after claiming them.
// Replicas sharing a database evaluate the rules once: the one holding
// the lease evaluates, the others wait. A replica that stops cleanly
// releases it; after a crash another takes over once it expires.
const leaseDuration = 15 * time.Second

type lease struct {
	mu    sync.Mutex
	owner string
	until time.Time // end of our lease; zero when not held
	epoch int64     // incremented whenever we (re)gain the lease
}

func newOwnerID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// leader reports whether this replica may evaluate now, claiming or
// renewing the lease in the database when a third of it is used up. The
// epoch changes each time the lease is gained: the alert state in the
// database may then be newer than ours (see refresh).
func (m *Manager) leader(ctx context.Context) (bool, int64) {
	l := &m.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	now := m.clock.Now()
	if now.Before(l.until.Add(-leaseDuration * 2 / 3)) {
		return true, l.epoch
	}
	held := now.Before(l.until)
	ok, prev, err := claim(ctx, m.db, l.owner, now, now.Add(leaseDuration))
	if err != nil {
		m.logger.Error("Claiming the rule evaluation lease failed", "err", err)
		return held, l.epoch
	}
	if !ok {
		l.until = time.Time{}
		return false, l.epoch
	}
	if !held {
		m.logger.Info("This replica evaluates the rules now", "owner", l.owner)
		// Another replica held the lease after we loaded the state: it
		// kept evaluating, so the database is newer than our copy.
		if prev.owner != "" && prev.owner != l.owner && prev.until.After(m.loadedAt) {
			l.epoch++
		}
	}
	l.until = now.Add(leaseDuration)
	return true, l.epoch
}

// holder is who held the lease, and until when.
type holder struct {
	owner string
	until time.Time
}

// claim takes the lease if it is ours or expired, and says who held it.
func claim(ctx context.Context, db *storage.DB, owner string, now, until time.Time) (ok bool, prev holder, err error) {
	err = db.InTx(ctx, func(tx *storage.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rule_evaluator (id, last_eval_at) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`); err != nil {
			return err
		}
		var ms int64
		if err := tx.QueryRow(ctx, `SELECT owner, lease_until FROM rule_evaluator WHERE id = 1`).Scan(&prev.owner, &ms); err != nil {
			return err
		}
		prev.until = storage.Time(ms)
		res, err := tx.Exec(ctx, `UPDATE rule_evaluator SET owner = ?, lease_until = ? WHERE id = 1 AND (owner = ? OR lease_until < ?)`,
			owner, storage.Millis(until), owner, storage.Millis(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, prev, err
}

// releaseLease lets another replica take over at once after a clean stop.
func (m *Manager) releaseLease() {
	l := &m.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.db.Exec(ctx, `UPDATE rule_evaluator SET lease_until = 0 WHERE id = 1 AND owner = ?`, l.owner); err != nil {
		m.logger.Warn("Releasing the rule evaluation lease failed", "err", err)
	}
	l.until = time.Time{}
}

// refresh reloads a group's alert state from the database after this
// replica gained the lease: the previous owner kept evaluating while our
// copy stood still.
func (m *Manager) refresh(ctx context.Context, rg *runningGroup, s *settings) {
	key := rg.spec.Key()
	rows, err := loadGroup(ctx, m.db, key)
	if err != nil {
		m.logger.Error("Loading alert state on takeover failed; evaluating with the state in memory", "group", key, "err", err)
		return
	}
	g, err := Build(rg.spec, s.build.defaultInterval, s.build.externalLabels, s.build.externalURL, s.opts, s.build.skipRecording)
	if err != nil {
		return
	}
	// The previous owner evaluated until moments ago: no outage to adjust
	// pending alerts for.
	restore(ctx, g, rows, s.build, pendingAdjust{now: m.clock.Now()}, m.logger)
	rg.g.Store(g)
	rg.persisted = rows
}
