package router

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
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

// valuesOf returns a VALUES list of n copies of row. Its columns are
// column1, column2, ... on both backends; casts in row give PostgreSQL the
// types that its untyped parameters lack.
func valuesOf(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

func storeExtensionBatch(ctx context.Context, tx *storage.Tx, alerts []*alert.Alert) error {
	args := make([]any, 0, 3*len(alerts))
	for _, a := range alerts {
		args = append(args, a.Fingerprint().String(), storage.Millis(a.EndsAt), storage.Millis(a.UpdatedAt))
	}
	q := `UPDATE alerts SET ends_at = v.column2, updated_at = v.column3
		FROM (VALUES ` + valuesOf(len(alerts), "(?, CAST(? AS BIGINT), CAST(? AS BIGINT))") + `) AS v
		WHERE alerts.fingerprint = v.column1 AND alerts.updated_at < v.column3`
	if err := tx.ExecLater(ctx, q, args...); err != nil {
		return fmt.Errorf("store %d endsAt extensions: %w", len(alerts), err)
	}
	return nil
}

// deleteAlerts removes resolved alerts, each only in the version that was
// resolved or an older one (a re-send whose endsAt extension was not yet
// written leaves the row older than memory): a row that a later ingest
// rewrote (a newer updated_at) is a new firing and stays.
//
// One statement deletes up to storeBatch of them: a flush's clean-up can
// hold thousands.
func deleteAlerts(ctx context.Context, tx *storage.Tx, gone []*alert.Alert) error {
	for chunk := range slices.Chunk(gone, storeBatch) {
		args := make([]any, 0, 2*len(chunk))
		for _, a := range chunk {
			args = append(args, a.Fingerprint().String(), storage.Millis(a.UpdatedAt))
		}
		q := `DELETE FROM alerts WHERE fingerprint IN (SELECT v.column1
			FROM (VALUES ` + valuesOf(len(chunk), "(?, CAST(? AS BIGINT))") + `) AS v
			JOIN alerts AS a ON a.fingerprint = v.column1 AND a.updated_at <= v.column2)`
		if err := tx.ExecLater(ctx, q, args...); err != nil {
			return fmt.Errorf("delete %d resolved alerts: %w", len(chunk), err)
		}
	}
	return nil
}

// loadAlerts reads the stored alerts. At start-up with 100,000 of them,
// reading the rows and decoding them take about as long each, so one
// goroutine reads rows, copied in chunks, while others decode the chunks
// and the caller's goroutine gathers them.
func loadAlerts(ctx context.Context, db *storage.DB) (map[model.Fingerprint]*alert.Alert, error) {
	rows, err := db.Query(ctx, `SELECT labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout FROM alerts`)
	if err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	defer rows.Close()

	chunks := make(chan *storedChunk, 4)
	decoded := make(chan decodedChunk, 4)
	readErr := make(chan error, 1)
	// Decoded chunks come back to be filled again: their texts are copied
	// by decoding.
	free := make(chan *storedChunk, 16)
	next := func() *storedChunk {
		select {
		case c := <-free:
			c.rows, c.buf = c.rows[:0], c.buf[:0]
			return c
		default:
			return &storedChunk{rows: make([]storedRow, 0, loadChunk), buf: make([]byte, 0, 256*loadChunk)}
		}
	}
	go func() {
		defer close(chunks)
		c := next()
		// RawBytes are reused from row to row; the chunk keeps copies.
		var lbl, ann, gen sql.RawBytes
		for rows.Next() {
			var r storedRow
			if err := rows.Scan(&lbl, &ann, &r.starts, &r.ends, &gen, &r.updated, &r.timeout); err != nil {
				readErr <- err
				return
			}
			c.add(&r, lbl, ann, gen)
			if len(c.rows) == loadChunk {
				chunks <- c
				c = next()
			}
		}
		if len(c.rows) > 0 {
			chunks <- c
		}
		readErr <- rows.Err()
	}()
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), 4)) {
		wg.Go(func() {
			// Alerts of one rule carry equal annotations: each decoder
			// decodes each set once and shares it (alerts are not
			// modified in place).
			annotations := map[string]model.LabelSet{}
			for c := range chunks {
				d := c.decode(annotations)
				select {
				case free <- c:
				default:
				}
				decoded <- d
			}
		})
	}
	go func() { wg.Wait(); close(decoded) }()

	out := map[model.Fingerprint]*alert.Alert{}
	var decodeErr error
	for d := range decoded {
		if d.err != nil {
			decodeErr = cmp.Or(decodeErr, d.err)
			continue
		}
		for _, a := range d.alerts {
			out[a.Fingerprint()] = a
		}
	}
	if err := <-readErr; err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	return out, nil
}

// loadChunk is how many rows loadAlerts hands to a decoder at a time.
const loadChunk = 512

// storedRow is a stored alert's row; its texts are in its chunk's buffer.
type storedRow struct {
	starts, ends, updated int64
	timeout               bool
	lbl, ann, gen         [2]int // start and end in the chunk's buffer
}

// storedChunk is rows read by loadAlerts, their texts copied into one
// buffer.
type storedChunk struct {
	rows []storedRow
	buf  []byte
}

func (c *storedChunk) add(r *storedRow, lbl, ann, gen []byte) {
	put := func(b []byte) [2]int {
		at := len(c.buf)
		c.buf = append(c.buf, b...)
		return [2]int{at, len(c.buf)}
	}
	r.lbl, r.ann, r.gen = put(lbl), put(ann), put(gen)
	c.rows = append(c.rows, *r)
}

type decodedChunk struct {
	alerts []*alert.Alert
	err    error
}

func (c *storedChunk) decode(annotations map[string]model.LabelSet) decodedChunk {
	text := func(at [2]int) []byte { return c.buf[at[0]:at[1]] }
	out := make([]*alert.Alert, 0, len(c.rows))
	for i := range c.rows {
		r := &c.rows[i]
		var (
			m   model.Alert
			err error
		)
		if m.Labels, err = decodeStoredLabels(text(r.lbl)); err != nil {
			return decodedChunk{err: fmt.Errorf("stored alert labels: %w", err)}
		}
		ann := text(r.ann)
		var ok bool
		if m.Annotations, ok = annotations[string(ann)]; !ok {
			if m.Annotations, err = decodeStoredLabels(ann); err != nil {
				return decodedChunk{err: fmt.Errorf("stored alert annotations: %w", err)}
			}
			annotations[string(ann)] = m.Annotations
		}
		m.StartsAt, m.EndsAt, m.GeneratorURL = storage.Time(r.starts), storage.Time(r.ends), internLabel(text(r.gen))
		out = append(out, alert.New(m, storage.Time(r.updated), r.timeout))
	}
	return decodedChunk{alerts: out}
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
