package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// Incident is one alert group's incident.
type Incident struct {
	ID         int64          `json:"id"`
	GroupID    string         `json:"groupId"`
	GroupKey   string         `json:"groupKey"`
	Receiver   string         `json:"receiver"`
	Title      string         `json:"title"`
	Status     Status         `json:"status"`
	Severity   string         `json:"severity,omitempty"`
	Service    string         `json:"service,omitempty"`
	Assignee   string         `json:"assignee,omitempty"`
	Labels     model.LabelSet `json:"labels"`
	OpenedAt   time.Time      `json:"openedAt"`
	UpdatedAt  time.Time      `json:"updatedAt"`
	AckedAt    *time.Time     `json:"acknowledgedAt,omitempty"`
	AckedBy    *Actor         `json:"acknowledgedBy,omitempty"`
	ResolvedAt *time.Time     `json:"resolvedAt,omitempty"`
	ResolvedBy *Actor         `json:"resolvedBy,omitempty"`
	Alerts     []Alert        `json:"alerts,omitempty"`
	Timeline   []Event        `json:"timeline,omitempty"`
	Links      []Link         `json:"links,omitempty"`
	// fresh is set on an incident opened or re-opened by this flush.
	fresh bool
	// inserted is set on an incident opened by this flush.
	inserted bool
}

// Alert is an alert as attached to an incident.
type Alert struct {
	Fingerprint  string         `json:"fingerprint"`
	Status       string         `json:"status"`
	Labels       model.LabelSet `json:"labels"`
	Annotations  model.LabelSet `json:"annotations"`
	StartsAt     time.Time      `json:"startsAt"`
	EndsAt       time.Time      `json:"endsAt"`
	GeneratorURL string         `json:"generatorURL"`
}

// Event is one entry of an incident's timeline.
type Event struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Actor   Actor     `json:"actor"`
	Message string    `json:"message,omitempty"`
}

const incidentColumns = `id, group_id, group_key, receiver, title, status, severity, labels, opened_at, updated_at,
	acked_at, acked_by, acked_via, resolved_at, resolved_by, resolved_via, assignee, service`

func scanIncident(row interface{ Scan(...any) error }) (*Incident, error) {
	var (
		inc                              Incident
		labels                           string
		opened, updated, acked, resolved int64
		ackBy, ackVia, resBy, resVia     string
	)
	err := row.Scan(&inc.ID, &inc.GroupID, &inc.GroupKey, &inc.Receiver, &inc.Title, &inc.Status, &inc.Severity,
		&labels, &opened, &updated, &acked, &ackBy, &ackVia, &resolved, &resBy, &resVia, &inc.Assignee, &inc.Service)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(labels), &inc.Labels); err != nil {
		return nil, fmt.Errorf("incident %d labels: %w", inc.ID, err)
	}
	inc.OpenedAt, inc.UpdatedAt = storage.Time(opened), storage.Time(updated)
	if acked != 0 {
		t := storage.Time(acked)
		inc.AckedAt, inc.AckedBy = &t, &Actor{Name: ackBy, Via: ackVia}
	}
	if resolved != 0 {
		t := storage.Time(resolved)
		inc.ResolvedAt, inc.ResolvedBy = &t, &Actor{Name: resBy, Via: resVia}
	}
	return &inc, nil
}

// insertIncident inserts inc and sets its id. With unlessOpen it inserts
// nothing, and reports false, if inc's group has an unresolved incident
// (the index incidents_one_open_per_group, whose predicate the conflict
// target repeats); without, that is an error.
func insertIncident(ctx context.Context, tx *storage.Tx, inc *Incident, unlessOpen bool) (bool, error) {
	labels, err := json.Marshal(nonNilLabels(inc.Labels))
	if err != nil {
		return false, err
	}
	q := `INSERT INTO incidents (group_id, group_key, receiver, title, status, severity, service, labels, opened_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if unlessOpen {
		q += ` ON CONFLICT (group_id) WHERE status <> '` + string(Resolved) + `' DO NOTHING`
	}
	err = tx.QueryRow(ctx, q+` RETURNING id`,
		inc.GroupID, inc.GroupKey, inc.Receiver, inc.Title, inc.Status, inc.Severity, inc.Service, string(labels),
		storage.Millis(inc.OpenedAt), storage.Millis(inc.UpdatedAt)).Scan(&inc.ID)
	if unlessOpen && errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert incident: %w", err)
	}
	return true, nil
}

func nonNilLabels(ls model.LabelSet) model.LabelSet {
	if ls == nil {
		return model.LabelSet{}
	}
	return ls
}

// openIncidentForGroup returns the group's unresolved incident, or nil.
// The status is written in the query, not bound, so that the planner sees
// that the partial index incidents_one_open_per_group (WHERE status <>
// 'resolved') applies: with a bound value SQLite recompiles the statement
// on every run to check, and PostgreSQL's generic plan cannot use it.
func openIncidentForGroup(ctx context.Context, q storage.Querier, groupID string) (*Incident, error) {
	row := q.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE group_id = ? AND status <> '`+string(Resolved)+`' ORDER BY id DESC LIMIT 1`,
		groupID)
	inc, err := scanIncident(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return inc, err
}

func getIncident(ctx context.Context, q storage.Querier, id int64) (*Incident, error) {
	inc, err := scanIncident(q.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return inc, err
}

func setAcked(ctx context.Context, tx *storage.Tx, id int64, at time.Time, by Actor) error {
	return tx.ExecLater(ctx, `UPDATE incidents SET status = ?, acked_at = ?, acked_by = ?, acked_via = ?, updated_at = ? WHERE id = ?`,
		Acknowledged, storage.Millis(at), by.Name, by.Via, storage.Millis(at), id)
}

func setResolved(ctx context.Context, tx *storage.Tx, id int64, at time.Time, by Actor) error {
	if err := markResolved(ctx, tx, id, at, by); err != nil {
		return err
	}
	return addEvent(ctx, tx, id, at, "resolved", by, "")
}

// markResolved is setResolved without the timeline event, for a flush,
// which writes its events together.
func markResolved(ctx context.Context, tx *storage.Tx, id int64, at time.Time, by Actor) error {
	return tx.ExecLater(ctx, `UPDATE incidents SET status = ?, resolved_at = ?, resolved_by = ?, resolved_via = ?, updated_at = ? WHERE id = ?`,
		Resolved, storage.Millis(at), by.Name, by.Via, storage.Millis(at), id)
}

func touch(ctx context.Context, tx *storage.Tx, id int64, at time.Time) error {
	return tx.ExecLater(ctx, `UPDATE incidents SET updated_at = ? WHERE id = ?`, storage.Millis(at), id)
}

func addEvent(ctx context.Context, tx *storage.Tx, id int64, at time.Time, kind string, by Actor, msg string) error {
	return timeline{{At: at, Kind: kind, Actor: by, Message: msg}}.write(ctx, tx, id)
}

// timeline collects the events of one flush, so that they are written
// with one statement instead of one each.
type timeline []Event

func (t *timeline) add(at time.Time, kind string, by Actor, msg string) {
	*t = append(*t, Event{At: at, Kind: kind, Actor: by, Message: msg})
}

// write records the events of incident id. Timelines are read ordered by
// id, and a multi-row INSERT ... VALUES assigns ids in the order of its rows
// on both SQLite and PostgreSQL, so the events keep their order.
func (t timeline) write(ctx context.Context, tx *storage.Tx, id int64) error {
	for chunk := range slices.Chunk(t, maxRows) {
		if err := tx.ExecLater(ctx, insertEvents(len(chunk)), chunk.args(id)...); err != nil {
			return fmt.Errorf("record timeline event: %w", err)
		}
	}
	return nil
}

func insertEvents(rows int) string {
	return `INSERT INTO incident_events (incident_id, at, kind, actor, via, message) VALUES ` + storage.Values(rows, 6)
}

func (t timeline) args(id int64) []any {
	args := make([]any, 0, 6*len(t))
	for _, e := range t {
		args = append(args, id, storage.Millis(e.At), e.Kind, e.Actor.Name, e.Actor.Via, e.Message)
	}
	return args
}

// maxRows bounds the rows of one multi-row statement: at 8 parameters a
// row it stays far below the parameters SQLite (32766) and PostgreSQL
// (65535) take in one statement.
//
// A flush writes its rows with multi-row statements: on PostgreSQL each
// statement is a round trip, and on SQLite one statement of ten rows costs
// less than ten of one row, even though its text varies with the number of
// rows and is compiled again unless it is short enough for storage.Tx to
// keep compiled (BenchmarkFlushNewGroup; also true from two rows on).
const maxRows = 500

// alertCols is the number of values of an incident_alerts row.
const alertCols = 8

func upsertAlerts(rows int) string {
	return `INSERT INTO incident_alerts (incident_id, fingerprint, labels, annotations, status, starts_at, ends_at, generator_url)
	VALUES ` + storage.Values(rows, alertCols) + `
	ON CONFLICT (incident_id, fingerprint) DO UPDATE SET labels = excluded.labels, annotations = excluded.annotations,
		status = excluded.status, starts_at = excluded.starts_at, ends_at = excluded.ends_at, generator_url = excluded.generator_url`
}

// alertRows are incident_alerts rows, alertCols values each.
type alertRows []any

// recordAlerts returns the notification's alerts as rows of the incident
// and puts each change of an alert's status on tl.
func recordAlerts(ctx context.Context, tx *storage.Tx, inc *Incident, n *router.Notification, tl *timeline) (alertRows, error) {
	var prev map[string]string
	if !inc.inserted { // an incident inserted by this flush has no alerts yet
		var err error
		if prev, err = alertStatuses(ctx, tx, inc.ID); err != nil {
			return nil, err
		}
	}
	rows := make(alertRows, 0, alertCols*len(n.Alerts))
	index := make(map[string]int, len(n.Alerts)) // fingerprint to its row
	for _, a := range n.Alerts {
		f := a.Fingerprint().String()
		status := "firing"
		if a.ResolvedAt(n.At) {
			status = "resolved"
		}
		if prev[f] != status {
			tl.add(n.At, "alert_"+status, system, a.Labels.String())
		}
		lbl, _ := json.Marshal(nonNilLabels(a.Labels))
		ann, _ := json.Marshal(nonNilLabels(a.Annotations))
		row := []any{inc.ID, f, string(lbl), string(ann), status, storage.Millis(a.StartsAt), storage.Millis(a.EndsAt), a.GeneratorURL}
		// PostgreSQL refuses to update a row twice in one statement; the
		// last copy of an alert is what one upsert each would leave.
		if i, ok := index[f]; ok {
			copy(rows[alertCols*i:], row)
			continue
		}
		index[f] = len(rows) / alertCols
		rows = append(rows, row...)
	}
	return rows, nil
}

// alertStatuses returns the status of each alert attached to incident id.
func alertStatuses(ctx context.Context, tx *storage.Tx, id int64) (map[string]string, error) {
	prev := map[string]string{}
	rows, err := tx.Query(ctx, `SELECT fingerprint, status FROM incident_alerts WHERE incident_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var f, st string
		if err := rows.Scan(&f, &st); err != nil {
			return nil, err
		}
		prev[f] = st
	}
	return prev, rows.Err()
}

// write attaches the alerts to incident id and records the events. On
// PostgreSQL both go in one statement, the upsert as a data-modifying WITH
// query, which runs to completion whether or not its result is read.
func (a alertRows) write(ctx context.Context, tx *storage.Tx, id int64, events timeline) error {
	n := len(a) / alertCols
	if tx.Dialect() == storage.Postgres && n > 0 && n <= maxRows && len(events) > 0 && len(events) <= maxRows {
		q := `WITH attached AS (` + upsertAlerts(n) + `) ` + insertEvents(len(events))
		if err := tx.ExecLater(ctx, q, slices.Concat(a, events.args(id))...); err != nil {
			return fmt.Errorf("attach alerts and record timeline: %w", err)
		}
		return nil
	}
	for chunk := range slices.Chunk(a, alertCols*maxRows) {
		if err := tx.ExecLater(ctx, upsertAlerts(len(chunk)/alertCols), chunk...); err != nil {
			return fmt.Errorf("attach alert: %w", err)
		}
	}
	return events.write(ctx, tx, id)
}

// Filter selects incidents for List; each field set must match exactly.
type Filter struct {
	Status   Status // empty: all
	Severity string // empty: any
	Service  string // empty: any
	Assignee string // empty: any
	Limit    int    // 0: 100
}

// List returns incidents, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]*Incident, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT ` + incidentColumns + ` FROM incidents`
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ column, value string }{
		{"status", string(f.Status)}, {"severity", f.Severity}, {"service", f.Service}, {"assignee", f.Assignee},
	} {
		if c.value != "" {
			where = append(where, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	out := []*Incident{}
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

// Get returns an incident with its alerts and timeline.
func (s *Service) Get(ctx context.Context, id int64) (*Incident, error) {
	inc, err := getIncident(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if inc.Alerts, err = s.alerts(ctx, id); err != nil {
		return nil, err
	}
	if inc.Timeline, err = s.Timeline(ctx, id); err != nil {
		return nil, err
	}
	if inc.Links, err = s.links(ctx, inc); err != nil {
		return nil, err
	}
	return inc, nil
}

func (s *Service) alerts(ctx context.Context, id int64) ([]Alert, error) {
	rows, err := s.db.Query(ctx, `SELECT fingerprint, status, labels, annotations, starts_at, ends_at, generator_url
		FROM incident_alerts WHERE incident_id = ? ORDER BY fingerprint`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		var (
			a            Alert
			lbl, ann     string
			starts, ends int64
		)
		if err := rows.Scan(&a.Fingerprint, &a.Status, &lbl, &ann, &starts, &ends, &a.GeneratorURL); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(lbl), &a.Labels); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(ann), &a.Annotations); err != nil {
			return nil, err
		}
		a.StartsAt, a.EndsAt = storage.Time(starts), storage.Time(ends)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Timeline returns an incident's events in order.
func (s *Service) Timeline(ctx context.Context, id int64) ([]Event, error) {
	rows, err := s.db.Query(ctx, `SELECT at, kind, actor, via, message FROM incident_events WHERE incident_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var (
			e  Event
			at int64
		)
		if err := rows.Scan(&at, &e.Kind, &e.Actor.Name, &e.Actor.Via, &e.Message); err != nil {
			return nil, err
		}
		e.At = storage.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
