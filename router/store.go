package router

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/storage"
)

func marshalLabels(ls model.LabelSet) (string, error) {
	if ls == nil {
		ls = model.LabelSet{}
	}
	b, err := json.Marshal(ls)
	return string(b), err
}

// storeBatch is how many alerts one INSERT writes: one statement per batch
// instead of per alert is most of the cost of a durable ingest, and 100
// rows of 8 values stay far below both backends' parameter limits.
const storeBatch = 100

// storeAlerts upserts alerts, which must have distinct fingerprints (one
// statement cannot update a row twice).
func storeAlerts(ctx context.Context, tx *storage.Tx, alerts []*alert.Alert) error {
	for len(alerts) > 0 {
		n := min(len(alerts), storeBatch)
		if err := storeAlertBatch(ctx, tx, alerts[:n]); err != nil {
			return err
		}
		alerts = alerts[n:]
	}
	return nil
}

func storeAlertBatch(ctx context.Context, tx *storage.Tx, alerts []*alert.Alert) error {
	args := make([]any, 0, 8*len(alerts))
	for _, a := range alerts {
		lbl, err := marshalLabels(a.Labels)
		if err != nil {
			return err
		}
		ann, err := marshalLabels(a.Annotations)
		if err != nil {
			return err
		}
		args = append(args, a.Fingerprint().String(), lbl, ann, storage.Millis(a.StartsAt), storage.Millis(a.EndsAt),
			a.GeneratorURL, storage.Millis(a.UpdatedAt), a.Timeout)
	}
	q := `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout) VALUES ` +
		storage.Values(len(alerts), 8) + `
		ON CONFLICT (fingerprint) DO UPDATE SET labels = excluded.labels, annotations = excluded.annotations,
		starts_at = excluded.starts_at, ends_at = excluded.ends_at, generator_url = excluded.generator_url,
		updated_at = excluded.updated_at, timeout = excluded.timeout`
	if err := tx.ExecLater(ctx, q, args...); err != nil {
		return fmt.Errorf("store %d alerts: %w", len(alerts), err)
	}
	return nil
}

// storeExtensions writes endsAt extensions left for later (extendsOnly):
// only ends_at and updated_at differ from the row, so only they are set,
// without encoding and rewriting the labels. It runs beside ingest
// batches, so it only moves a row forward: a row updated since with a
// newer version keeps it, and a row deleted since (resolved and flushed,
// here or by another replica) is not written again.
func storeExtensions(ctx context.Context, tx *storage.Tx, alerts []*alert.Alert) error {
	for len(alerts) > 0 {
		n := min(len(alerts), storeBatch)
		if err := storeExtensionBatch(ctx, tx, alerts[:n]); err != nil {
			return err
		}
		alerts = alerts[n:]
	}
	return nil
}

func storeExtensionBatch(ctx context.Context, tx *storage.Tx, alerts []*alert.Alert) error {
	var q strings.Builder
	// The VALUES columns are column1, column2, ... on both backends; the
	// casts give PostgreSQL the types that its untyped parameters lack.
	q.WriteString(`UPDATE alerts SET ends_at = v.column2, updated_at = v.column3 FROM (VALUES `)
	args := make([]any, 0, 3*len(alerts))
	for i, a := range alerts {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, CAST(? AS BIGINT), CAST(? AS BIGINT))")
		args = append(args, a.Fingerprint().String(), storage.Millis(a.EndsAt), storage.Millis(a.UpdatedAt))
	}
	q.WriteString(`) AS v WHERE alerts.fingerprint = v.column1 AND alerts.updated_at < v.column3`)
	if err := tx.ExecLater(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("store %d endsAt extensions: %w", len(alerts), err)
	}
	return nil
}

// deleteAlerts removes resolved alerts, each only in the version that was
// resolved or an older one (a re-send whose endsAt extension was not yet
// written leaves the row older than memory): a row that a later ingest
// rewrote (a newer updated_at) is a new firing and stays.
func deleteAlerts(ctx context.Context, tx *storage.Tx, gone []*alert.Alert) error {
	for _, a := range gone {
		if err := tx.ExecLater(ctx, `DELETE FROM alerts WHERE fingerprint = ? AND updated_at <= ?`,
			a.Fingerprint().String(), storage.Millis(a.UpdatedAt)); err != nil {
			return err
		}
	}
	return nil
}

func loadAlerts(ctx context.Context, db *storage.DB) (map[model.Fingerprint]*alert.Alert, error) {
	rows, err := db.Query(ctx, `SELECT labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout FROM alerts`)
	if err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	defer rows.Close()
	out := map[model.Fingerprint]*alert.Alert{}
	// Alerts of one rule carry equal annotations: decode each set once and
	// share it (alerts are not modified in place).
	annotations := map[string]model.LabelSet{}
	// RawBytes are reused from row to row: nothing decoded keeps them.
	var lbl, ann, gen sql.RawBytes
	for rows.Next() {
		var (
			starts, ends, updated int64
			timeout               bool
			m                     model.Alert
		)
		if err := rows.Scan(&lbl, &ann, &starts, &ends, &gen, &updated, &timeout); err != nil {
			return nil, err
		}
		if m.Labels, err = decodeStoredLabels(lbl); err != nil {
			return nil, fmt.Errorf("stored alert labels: %w", err)
		}
		var ok bool
		if m.Annotations, ok = annotations[string(ann)]; !ok {
			if m.Annotations, err = decodeStoredLabels(ann); err != nil {
				return nil, fmt.Errorf("stored alert annotations: %w", err)
			}
			annotations[string(ann)] = m.Annotations
		}
		m.StartsAt, m.EndsAt, m.GeneratorURL = storage.Time(starts), storage.Time(ends), internLabel(gen)
		a := alert.New(m, storage.Time(updated), timeout)
		out[a.Fingerprint()] = a
	}
	return out, rows.Err()
}

type groupRow struct {
	createdAt, nextFlush time.Time
	flushed              bool
}

func loadGroups(ctx context.Context, db *storage.DB) (map[string]groupRow, error) {
	rows, err := db.Query(ctx, `SELECT id, created_at, next_flush_at, flushed FROM alert_groups`)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	defer rows.Close()
	out := map[string]groupRow{}
	for rows.Next() {
		var (
			id            string
			created, next int64
			flushed       bool
		)
		if err := rows.Scan(&id, &created, &next, &flushed); err != nil {
			return nil, err
		}
		out[id] = groupRow{storage.Time(created), storage.Time(next), flushed}
	}
	return out, rows.Err()
}
