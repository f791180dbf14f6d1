package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/storage"
)

// alertRow is one alert of one rule as stored in rule_alerts: everything
// Prometheus's state machine needs to carry on where it stopped.
type alertRow struct {
	Labels          labels.Labels
	Annotations     labels.Labels
	State           promrules.AlertState
	Value           float64
	ActiveAt        time.Time
	FiredAt         time.Time
	ResolvedAt      time.Time
	LastSentAt      time.Time
	ValidUntil      time.Time
	KeepFiringSince time.Time
}

// rowKey identifies a row within a group.
type rowKey struct {
	Rule string // ruleKeys of the rule
	Hash string // hash of the alert's labels
}

// changed reports whether r differs from o in what must survive a
// restart; value and annotations change with every evaluation and are
// written along with the next real change.
func (r alertRow) changed(o alertRow) bool {
	return r.State != o.State || !r.ActiveAt.Equal(o.ActiveAt) || !r.FiredAt.Equal(o.FiredAt) ||
		!r.ResolvedAt.Equal(o.ResolvedAt) || !r.LastSentAt.Equal(o.LastSentAt) ||
		!r.ValidUntil.Equal(o.ValidUntil) || !r.KeepFiringSince.Equal(o.KeepFiringSince) ||
		!labels.Equal(r.Labels, o.Labels)
}

// ruleKeys names each alerting rule of g as CopyState matches rules
// across reloads: by name and labels, duplicates in order.
func ruleKeys(g *promrules.Group) map[*promrules.AlertingRule]string {
	seen := map[string]int{}
	out := map[*promrules.AlertingRule]string{}
	for _, r := range g.Rules() {
		ar, ok := r.(*promrules.AlertingRule)
		if !ok {
			continue
		}
		k := ar.Name() + ar.Labels().String()
		out[ar] = k + "#" + strconv.Itoa(seen[k])
		seen[k]++
	}
	return out
}

// snapshot copies the alert state of every alerting rule of g.
func snapshot(g *promrules.Group) map[rowKey]alertRow {
	rows := map[rowKey]alertRow{}
	for ar, rk := range ruleKeys(g) {
		ar.ForEachActiveAlert(func(a *promrules.Alert) {
			rows[rowKey{rk, strconv.FormatUint(a.Labels.Hash(), 16)}] = alertRow{
				Labels: a.Labels.Copy(), Annotations: a.Annotations.Copy(), State: a.State, Value: a.Value,
				ActiveAt: a.ActiveAt, FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt, LastSentAt: a.LastSentAt,
				ValidUntil: a.ValidUntil, KeepFiringSince: a.KeepFiringSince,
			}
		})
	}
	return rows
}

const upsertAlert = `INSERT INTO rule_alerts (group_key, rule_key, labels_hash, labels, annotations, state, value,
  active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (group_key, rule_key, labels_hash) DO UPDATE SET labels = excluded.labels,
  annotations = excluded.annotations, state = excluded.state, value = excluded.value,
  active_at = excluded.active_at, fired_at = excluded.fired_at, resolved_at = excluded.resolved_at,
  last_sent_at = excluded.last_sent_at, valid_until = excluded.valid_until,
  keep_firing_since = excluded.keep_firing_since`

// saveGroup writes the rows of cur that differ from prev and deletes the
// rows that are gone, in one transaction.
func saveGroup(ctx context.Context, db *storage.DB, group string, prev, cur map[rowKey]alertRow) error {
	var upserts []rowKey
	for k, r := range cur {
		if p, ok := prev[k]; !ok || r.changed(p) {
			upserts = append(upserts, k)
		}
	}
	var deletes []rowKey
	for k := range prev {
		if _, ok := cur[k]; !ok {
			deletes = append(deletes, k)
		}
	}
	if len(upserts) == 0 && len(deletes) == 0 {
		return nil
	}
	return db.InTx(ctx, func(tx *storage.Tx) error {
		for _, k := range upserts {
			r := cur[k]
			ls, _ := json.Marshal(r.Labels.Map())
			ann, _ := json.Marshal(r.Annotations.Map())
			_, err := tx.Exec(ctx, upsertAlert, group, k.Rule, k.Hash, string(ls), string(ann), int(r.State),
				strconv.FormatFloat(r.Value, 'g', -1, 64), nanos(r.ActiveAt), nanos(r.FiredAt),
				nanos(r.ResolvedAt), nanos(r.LastSentAt), nanos(r.ValidUntil), nanos(r.KeepFiringSince))
			if err != nil {
				return fmt.Errorf("save alert state of group %s: %w", group, err)
			}
		}
		for _, k := range deletes {
			if _, err := tx.Exec(ctx, `DELETE FROM rule_alerts WHERE group_key = ? AND rule_key = ? AND labels_hash = ?`, group, k.Rule, k.Hash); err != nil {
				return fmt.Errorf("delete alert state of group %s: %w", group, err)
			}
		}
		return nil
	})
}

// loadGroup reads the stored rows of a group.
func loadGroup(ctx context.Context, db storage.Querier, group string) (map[rowKey]alertRow, error) {
	rows, err := db.Query(ctx, `SELECT rule_key, labels_hash, labels, annotations, state, value, active_at, fired_at,
  resolved_at, last_sent_at, valid_until, keep_firing_since FROM rule_alerts WHERE group_key = ?`, group)
	if err != nil {
		return nil, fmt.Errorf("load alert state of group %s: %w", group, err)
	}
	defer rows.Close()
	out := map[rowKey]alertRow{}
	for rows.Next() {
		var (
			k                       rowKey
			ls, ann, value          string
			state                   int
			act, fir, res, sent, vu int64
			kf                      int64
		)
		if err := rows.Scan(&k.Rule, &k.Hash, &ls, &ann, &state, &value, &act, &fir, &res, &sent, &vu, &kf); err != nil {
			return nil, fmt.Errorf("load alert state of group %s: %w", group, err)
		}
		var lm, am map[string]string
		if err := json.Unmarshal([]byte(ls), &lm); err != nil {
			return nil, fmt.Errorf("load alert state of group %s: labels: %w", group, err)
		}
		if err := json.Unmarshal([]byte(ann), &am); err != nil {
			return nil, fmt.Errorf("load alert state of group %s: annotations: %w", group, err)
		}
		v, _ := strconv.ParseFloat(value, 64)
		out[k] = alertRow{
			Labels: labels.FromMap(lm), Annotations: labels.FromMap(am), State: promrules.AlertState(state), Value: v,
			ActiveAt: fromNanos(act), FiredAt: fromNanos(fir), ResolvedAt: fromNanos(res),
			LastSentAt: fromNanos(sent), ValidUntil: fromNanos(vu), KeepFiringSince: fromNanos(kf),
		}
	}
	return out, rows.Err()
}

// deleteGroups forgets the state of groups that are no longer loaded.
func deleteGroups(ctx context.Context, db *storage.DB, keep map[string]bool) error {
	rows, err := db.Query(ctx, `SELECT DISTINCT group_key FROM rule_alerts`)
	if err != nil {
		return fmt.Errorf("list stored rule groups: %w", err)
	}
	var gone []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return err
		}
		if !keep[g] {
			gone = append(gone, g)
		}
	}
	rows.Close()
	for _, g := range gone {
		if _, err := db.Exec(ctx, `DELETE FROM rule_alerts WHERE group_key = ?`, g); err != nil {
			return fmt.Errorf("delete state of rule group %s: %w", g, err)
		}
	}
	return nil
}

// beat records that the evaluator ran at t.
func beat(ctx context.Context, db *storage.DB, t time.Time) error {
	_, err := db.Exec(ctx, `INSERT INTO rule_evaluator (id, last_eval_at) VALUES (1, ?)
ON CONFLICT (id) DO UPDATE SET last_eval_at = excluded.last_eval_at`, storage.Millis(t))
	return err
}

// lastBeat is when the evaluator last ran; zero if never.
func lastBeat(ctx context.Context, db *storage.DB) (time.Time, error) {
	var ms int64
	err := db.QueryRow(ctx, `SELECT COALESCE(MAX(last_eval_at), 0) FROM rule_evaluator`).Scan(&ms)
	return storage.Time(ms), err
}

// nanos stores alert times exactly; 0 is the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
