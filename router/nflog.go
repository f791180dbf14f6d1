package router

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/alertmanager/alert"

	"github.com/klaxon-dev/klaxon/storage"
)

// nflogRetention is how long a notification log entry is kept after its
// last notification, Alertmanager's --data.retention default.
const nflogRetention = 120 * time.Hour

// nflogEntry records the state a group was last notified in.
type nflogEntry struct {
	Firing   []uint64
	Resolved []uint64
	SentAt   time.Time
	Expires  time.Time
}

func fingerprints(alerts []*alert.Alert, now time.Time) (firing, resolved []uint64) {
	for _, a := range alerts {
		if a.ResolvedAt(now) {
			resolved = append(resolved, uint64(a.Fingerprint()))
		} else {
			firing = append(firing, uint64(a.Fingerprint()))
		}
	}
	slices.Sort(firing)
	slices.Sort(resolved)
	return firing, resolved
}

func subset(sub, of []uint64) bool {
	for _, x := range sub {
		if _, ok := slices.BinarySearch(of, x); !ok {
			return false
		}
	}
	return true
}

// decide is Alertmanager's DedupStage.needsUpdate, returning also why.
func decide(prev *nflogEntry, firing, resolved []uint64, sendResolved bool, now time.Time, repeat time.Duration) (Reason, bool) {
	switch {
	case prev == nil:
		return ReasonFirst, len(firing) > 0
	case !subset(firing, prev.Firing):
		return ReasonNew, true
	case len(firing) == 0:
		return ReasonResolved, len(prev.Firing) > 0
	case sendResolved && !subset(resolved, prev.Resolved):
		return ReasonResolved, true
	default:
		return ReasonRepeat, prev.SentAt.Before(now.Add(-repeat))
	}
}

func saveNflog(ctx context.Context, tx *storage.Tx, groupID, receiver string, e *nflogEntry) error {
	firing, _ := json.Marshal(nonNil(e.Firing))
	resolved, _ := json.Marshal(nonNil(e.Resolved))
	err := tx.ExecLater(ctx, `INSERT INTO nflog (group_id, receiver, firing, resolved, sent_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (group_id, receiver) DO UPDATE SET firing = excluded.firing,
			resolved = excluded.resolved, sent_at = excluded.sent_at, expires_at = excluded.expires_at`,
		groupID, receiver, string(firing), string(resolved), storage.Millis(e.SentAt), storage.Millis(e.Expires))
	if err != nil {
		return fmt.Errorf("record notification log: %w", err)
	}
	return nil
}

func nonNil(s []uint64) []uint64 {
	if s == nil {
		return []uint64{}
	}
	return s
}

// loadNflog reads the unexpired entries, keyed by group id.
func loadNflog(ctx context.Context, db *storage.DB, now time.Time) (map[string]*nflogEntry, error) {
	rows, err := db.Query(ctx, `SELECT group_id, firing, resolved, sent_at, expires_at FROM nflog WHERE expires_at > ?`, storage.Millis(now))
	if err != nil {
		return nil, fmt.Errorf("load notification log: %w", err)
	}
	defer rows.Close()
	out := map[string]*nflogEntry{}
	for rows.Next() {
		var (
			id, firing, resolved string
			sent, expires        int64
		)
		if err := rows.Scan(&id, &firing, &resolved, &sent, &expires); err != nil {
			return nil, err
		}
		e := &nflogEntry{SentAt: storage.Time(sent), Expires: storage.Time(expires)}
		if err := json.Unmarshal([]byte(firing), &e.Firing); err != nil {
			return nil, fmt.Errorf("notification log of group %s: %w", id, err)
		}
		if err := json.Unmarshal([]byte(resolved), &e.Resolved); err != nil {
			return nil, fmt.Errorf("notification log of group %s: %w", id, err)
		}
		out[id] = e
	}
	return out, rows.Err()
}
