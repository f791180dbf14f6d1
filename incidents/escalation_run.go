package incidents

import (
	"context"
	"fmt"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// Wake makes the escalation loop look at the database now, after a commit
// that changed an escalation.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run runs due escalation steps and ack timeouts until ctx ends. Due
// times are in the database, so a restarted Klaxon, or another replica,
// carries on where this one stopped; the loop sleeps on the injected
// clock until the earliest one.
func (s *Service) Run(ctx context.Context) {
	for {
		next, err := s.RunDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.Error("Escalation failed; retrying", "err", err)
		}
		wait := pollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-s.clock.After(wait):
		}
	}
}

// RunDue runs every escalation step and ack timeout due by now, and
// returns when the next one is due (zero if none is).
func (s *Service) RunDue(ctx context.Context) (time.Time, error) {
	now := s.clock.Now()
	rows, err := s.db.Query(ctx, `SELECT incident_id FROM incident_escalations
		WHERE (next_at > 0 AND next_at <= ?) OR (ack_due_at > 0 AND ack_due_at <= ?)`, storage.Millis(now), storage.Millis(now))
	if err != nil {
		return time.Time{}, fmt.Errorf("find due escalations: %w", err)
	}
	var due []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return time.Time{}, err
		}
		due = append(due, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return time.Time{}, err
	}
	for _, id := range due {
		err := s.db.InTx(ctx, func(tx *storage.Tx) error { return s.runDue(ctx, tx, id, now) })
		if err != nil {
			return time.Time{}, fmt.Errorf("escalate incident %d: %w", id, err)
		}
	}
	return s.nextDue(ctx)
}

func (s *Service) nextDue(ctx context.Context) (time.Time, error) {
	var next, ack int64
	err := s.db.QueryRow(ctx, `SELECT COALESCE(MIN(CASE WHEN next_at > 0 THEN next_at END), 0),
		COALESCE(MIN(CASE WHEN ack_due_at > 0 THEN ack_due_at END), 0) FROM incident_escalations`).Scan(&next, &ack)
	if err != nil {
		return time.Time{}, fmt.Errorf("next escalation: %w", err)
	}
	switch {
	case next == 0:
		return storage.Time(ack), nil
	case ack == 0:
		return storage.Time(next), nil
	}
	return storage.Time(min(next, ack)), nil
}

// runDue handles one incident whose step or ack timeout is due.
func (s *Service) runDue(ctx context.Context, tx *storage.Tx, id int64, now time.Time) error {
	inc, err := getIncident(ctx, tx, id)
	if err != nil {
		return err
	}
	e, err := getEscalation(ctx, tx, id)
	if err != nil || e == nil {
		return err
	}
	switch {
	case inc.Status == Resolved:
		return stopEscalation(ctx, tx, id)
	case inc.Status == Acknowledged && !e.ackDueAt.IsZero() && !e.ackDueAt.After(now):
		return s.ackTimedOut(ctx, tx, inc, e, now)
	case inc.Status == Triggered && !e.nextAt.IsZero() && !e.nextAt.After(now):
		return s.runStep(ctx, tx, inc, e, now)
	}
	return nil
}

// ackTimedOut triggers an acknowledged incident that still fires when its
// ack timeout passed: everyone is paged again and the escalation goes on
// from the step that was last run.
func (s *Service) ackTimedOut(ctx context.Context, tx *storage.Tx, inc *Incident, e *escalation, now time.Time) error {
	res, err := tx.Exec(ctx, `UPDATE incident_escalations SET ack_due_at = 0 WHERE incident_id = ? AND ack_due_at = ?`,
		inc.ID, storage.Millis(e.ackDueAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	firing := false
	alerts, err := alertsForNotification(ctx, tx, inc.ID)
	if err != nil {
		return err
	}
	for _, a := range alerts {
		firing = firing || !a.ResolvedAt(now)
	}
	if !firing {
		return nil
	}
	if err := setTriggered(ctx, tx, inc.ID, now, false); err != nil {
		return err
	}
	by := "nobody"
	if inc.AckedBy != nil {
		by = inc.AckedBy.Name
	}
	if err := addEvent(ctx, tx, inc.ID, now, "ack_timeout", escalator,
		fmt.Sprintf("acknowledged by %s but still firing; paging again", by)); err != nil {
		return err
	}
	inc.Status, inc.AckedAt, inc.AckedBy = Triggered, nil, nil
	m, err := stateMessage(ctx, tx, inc, "ack_timeout", now)
	if err != nil {
		return err
	}
	s.withAckURL(m, "")
	if err := s.enqueueUpdate(ctx, tx, m); err != nil {
		return err
	}
	if len(e.snap.Policy.Steps) == 0 {
		return nil
	}
	step := max(e.step-1, 0)
	_, err = tx.Exec(ctx, `UPDATE incident_escalations SET step = ?, next_at = ? WHERE incident_id = ?`,
		step, storage.Millis(now), inc.ID)
	if err != nil {
		return err
	}
	return s.runStep(ctx, tx, inc, &escalation{incidentID: inc.ID, snap: e.snap, step: step, nextAt: now}, now)
}

// pauseEscalation is the escalation side of an acknowledgement: no more
// steps, and the ack timeout starts if one is configured.
func (s *Service) pauseEscalation(ctx context.Context, tx *storage.Tx, id int64, now time.Time) error {
	var timeout time.Duration
	if w := s.work.Load(); w != nil {
		timeout = time.Duration(w.cfg.AckTimeout)
	}
	due := int64(0)
	if timeout > 0 {
		due = storage.Millis(now.Add(timeout))
	}
	res, err := tx.Exec(ctx, `UPDATE incident_escalations SET next_at = 0, ack_due_at = ? WHERE incident_id = ?`, due, id)
	if err != nil {
		return fmt.Errorf("pause escalation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 && due != 0 {
		// Without a policy the row exists only for the ack timeout.
		_, err = tx.Exec(ctx, `INSERT INTO incident_escalations (incident_id, policy, snapshot, ack_due_at) VALUES (?, '', '{}', ?)`, id, due)
	}
	return err
}

// resumeEscalation is the escalation side of an un-ack: the next step is
// due now, and the ack timeout is void.
func (s *Service) resumeEscalation(ctx context.Context, tx *storage.Tx, id int64, now time.Time) error {
	e, err := getEscalation(ctx, tx, id)
	if err != nil || e == nil {
		return err
	}
	next := int64(0)
	if _, ok := e.snap.Step(e.step); ok {
		next = storage.Millis(now)
	}
	_, err = tx.Exec(ctx, `UPDATE incident_escalations SET next_at = ?, ack_due_at = 0 WHERE incident_id = ?`, next, id)
	return err
}

// stopEscalation ends an incident's escalation for good (resolved).
func stopEscalation(ctx context.Context, tx *storage.Tx, id int64) error {
	return tx.ExecLater(ctx, `UPDATE incident_escalations SET next_at = 0, ack_due_at = 0 WHERE incident_id = ?`, id)
}
