package oncall

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// table is one of the tables of named objects stored as JSON.
type table string

const (
	usersTable     table = "oncall_users"
	schedulesTable table = "oncall_schedules"
	policiesTable  table = "oncall_policies"
)

// get decodes the named object into out; ErrNotFound when absent.
func (t table) get(ctx context.Context, q storage.Querier, name string, out any) error {
	var body string
	err := q.QueryRow(ctx, `SELECT body FROM `+string(t)+` WHERE name = ?`, name).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read %s %q: %w", t, name, err)
	}
	return json.Unmarshal([]byte(body), out)
}

// list decodes every object, in name order, with each(body).
func (t table) list(ctx context.Context, q storage.Querier, each func(body []byte) error) error {
	rows, err := q.Query(ctx, `SELECT body FROM `+string(t)+` ORDER BY name`)
	if err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	defer rows.Close()
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return err
		}
		if err := each([]byte(body)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// names returns the set of names in the table.
func (t table) names(ctx context.Context, q storage.Querier) (map[string]bool, error) {
	rows, err := q.Query(ctx, `SELECT name FROM `+string(t))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// put writes the object; with create it fails with ErrExists if the name
// is taken, otherwise it inserts or replaces.
func (t table) put(ctx context.Context, q storage.Querier, name string, v any, now time.Time, create bool) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	exists, err := t.exists(ctx, q, name)
	if err != nil {
		return err
	}
	switch {
	case exists && create:
		return ErrExists
	case exists:
		_, err = q.Exec(ctx, `UPDATE `+string(t)+` SET body = ?, updated_at = ? WHERE name = ?`, string(body), storage.Millis(now), name)
	default:
		_, err = q.Exec(ctx, `INSERT INTO `+string(t)+` (name, body, created_at, updated_at) VALUES (?, ?, ?, ?)`,
			name, string(body), storage.Millis(now), storage.Millis(now))
	}
	if err != nil {
		return fmt.Errorf("write %s %q: %w", t, name, err)
	}
	return nil
}

func (t table) exists(ctx context.Context, q storage.Querier, name string) (bool, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM `+string(t)+` WHERE name = ?`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("read %s %q: %w", t, name, err)
	}
	return n > 0, nil
}

func (t table) delete(ctx context.Context, q storage.Querier, name string) error {
	res, err := q.Exec(ctx, `DELETE FROM `+string(t)+` WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", t, name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

const overrideColumns = `id, schedule, start_at, end_at, add_user, remove_user, note`

// listOverrides returns a schedule's overrides whose window meets
// [from, to), ordered by start and id as plan.at needs them. A zero to
// means no upper bound.
func listOverrides(ctx context.Context, q storage.Querier, schedule string, from, to time.Time) ([]Override, error) {
	upper := int64(1) << 62
	if !to.IsZero() {
		upper = storage.Millis(to)
	}
	rows, err := q.Query(ctx, `SELECT `+overrideColumns+` FROM oncall_overrides
		WHERE schedule = ? AND end_at > ? AND start_at < ? ORDER BY start_at, id`, schedule, from.UnixMilli(), upper)
	if err != nil {
		return nil, fmt.Errorf("list overrides of %q: %w", schedule, err)
	}
	defer rows.Close()
	out := []Override{}
	for rows.Next() {
		var (
			o          Override
			start, end int64
		)
		if err := rows.Scan(&o.ID, &o.Schedule, &start, &end, &o.Add, &o.Remove, &o.Note); err != nil {
			return nil, err
		}
		o.Start, o.End = storage.Time(start), storage.Time(end)
		out = append(out, o)
	}
	return out, rows.Err()
}

func insertOverride(ctx context.Context, q storage.Querier, o *Override, now time.Time) error {
	err := q.QueryRow(ctx, `INSERT INTO oncall_overrides (schedule, start_at, end_at, add_user, remove_user, note, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		o.Schedule, storage.Millis(o.Start), storage.Millis(o.End), o.Add, o.Remove, o.Note, storage.Millis(now)).Scan(&o.ID)
	if err != nil {
		return fmt.Errorf("write override of %q: %w", o.Schedule, err)
	}
	return nil
}

func deleteOverride(ctx context.Context, q storage.Querier, schedule string, id int64) error {
	res, err := q.Exec(ctx, `DELETE FROM oncall_overrides WHERE schedule = ? AND id = ?`, schedule, id)
	if err != nil {
		return fmt.Errorf("delete override %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("override %d of schedule %q: %w", id, schedule, ErrNotFound)
	}
	return nil
}

// overridesNaming lists the overrides not yet over at now that name user.
func overridesNaming(ctx context.Context, q storage.Querier, user string, now time.Time) ([]Override, error) {
	rows, err := q.Query(ctx, `SELECT `+overrideColumns+` FROM oncall_overrides
		WHERE (add_user = ? OR remove_user = ?) AND end_at > ? ORDER BY id`, user, user, storage.Millis(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Override
	for rows.Next() {
		var (
			o          Override
			start, end int64
		)
		if err := rows.Scan(&o.ID, &o.Schedule, &start, &end, &o.Add, &o.Remove, &o.Note); err != nil {
			return nil, err
		}
		o.Start, o.End = storage.Time(start), storage.Time(end)
		out = append(out, o)
	}
	return out, rows.Err()
}
