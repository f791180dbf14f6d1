package incidents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/storage"
)

// ErrInvalid is returned for an edit whose input is wrong (an empty note,
// a link that is not a URL).
var ErrInvalid = errors.New("invalid input")

// Unack takes an acknowledgement back: the incident is triggered again,
// its escalation resumes from the step it had reached, and every channel
// shows it unacknowledged again (Slack gets its Acknowledge button back,
// PagerDuty a new trigger).
func (s *Service) Unack(ctx context.Context, id int64, by Actor) (*Incident, error) {
	inc, err := s.transition(ctx, id, by, func(tx *storage.Tx, inc *Incident, now time.Time) error {
		switch inc.Status {
		case Resolved:
			return fmt.Errorf("%w: incident %d is resolved", ErrConflict, id)
		case Triggered:
			return nil
		}
		return s.retrigger(ctx, tx, inc, now, "unacknowledged", by, false)
	})
	if err == nil {
		s.Wake()
	}
	return inc, err
}

// setTriggered clears the acknowledgement (and, when reopening, the
// resolution) of an incident.
func setTriggered(ctx context.Context, tx *storage.Tx, id int64, at time.Time, reopening bool) error {
	q := `UPDATE incidents SET status = ?, acked_at = 0, acked_by = '', acked_via = '', updated_at = ? WHERE id = ?`
	if reopening {
		q = `UPDATE incidents SET status = ?, acked_at = 0, acked_by = '', acked_via = '',
			resolved_at = 0, resolved_by = '', resolved_via = '', updated_at = ? WHERE id = ?`
	}
	_, err := tx.Exec(ctx, q, Triggered, storage.Millis(at), id)
	return err
}

// retrigger puts an incident back to triggered (after an un-ack, or a
// re-open when reopenResolved), records why, resumes its escalation and
// updates every channel. The update carries no Ack: channels render the
// incident as unacknowledged again.
func (s *Service) retrigger(ctx context.Context, tx *storage.Tx, inc *Incident, now time.Time, kind string, by Actor, reopenResolved bool) error {
	if err := setTriggered(ctx, tx, inc.ID, now, reopenResolved); err != nil {
		return err
	}
	if err := addEvent(ctx, tx, inc.ID, now, kind, actorOrAnonymous(by), ""); err != nil {
		return err
	}
	if err := s.resumeEscalation(ctx, tx, inc.ID, now); err != nil {
		return err
	}
	inc.Status, inc.AckedAt, inc.AckedBy = Triggered, nil, nil
	m, err := stateMessage(ctx, tx, inc, notifiers.ReasonAcknowledged, now)
	if err != nil {
		return err
	}
	return s.enqueueUpdate(ctx, tx, m)
}

// AddNote puts a note on the incident's timeline.
func (s *Service) AddNote(ctx context.Context, id int64, by Actor, text string) (*Incident, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, fmt.Errorf("%w: note: must not be empty", ErrInvalid)
	}
	return s.transition(ctx, id, by, func(tx *storage.Tx, _ *Incident, now time.Time) error {
		return addEvent(ctx, tx, id, now, "note", actorOrAnonymous(by), text)
	})
}

// SetAssignee names who works on the incident ("" to clear).
func (s *Service) SetAssignee(ctx context.Context, id int64, by Actor, assignee string) (*Incident, error) {
	assignee = strings.TrimSpace(assignee)
	return s.transition(ctx, id, by, func(tx *storage.Tx, inc *Incident, now time.Time) error {
		if inc.Assignee == assignee {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE incidents SET assignee = ?, updated_at = ? WHERE id = ?`, assignee, storage.Millis(now), id); err != nil {
			return err
		}
		msg := "assigned to " + assignee
		if assignee == "" {
			msg = "unassigned"
		}
		return addEvent(ctx, tx, id, now, "assignee_changed", actorOrAnonymous(by), msg)
	})
}

// SetSeverity changes the incident's severity.
func (s *Service) SetSeverity(ctx context.Context, id int64, by Actor, severity string) (*Incident, error) {
	severity = strings.TrimSpace(severity)
	if severity == "" {
		return nil, fmt.Errorf("%w: severity: must not be empty", ErrInvalid)
	}
	return s.transition(ctx, id, by, func(tx *storage.Tx, inc *Incident, now time.Time) error {
		if inc.Severity == severity {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE incidents SET severity = ?, updated_at = ? WHERE id = ?`, severity, storage.Millis(now), id); err != nil {
			return err
		}
		return addEvent(ctx, tx, id, now, "severity_changed", actorOrAnonymous(by),
			fmt.Sprintf("severity %q → %q", inc.Severity, severity))
	})
}

// AddLink attaches a link by hand.
func (s *Service) AddLink(ctx context.Context, id int64, by Actor, l Link) (*Incident, error) {
	if err := checkURL(l.URL); err != nil {
		return nil, err
	}
	if l.Kind == "" {
		l.Kind = "link"
	}
	return s.transition(ctx, id, by, func(tx *storage.Tx, _ *Incident, now time.Time) error {
		_, err := tx.Exec(ctx, `INSERT INTO incident_links (incident_id, kind, title, url, created_at) VALUES (?, ?, ?, ?, ?)`,
			id, l.Kind, l.Title, l.URL, storage.Millis(now))
		if err != nil {
			return fmt.Errorf("add link: %w", err)
		}
		return addEvent(ctx, tx, id, now, "link_added", actorOrAnonymous(by), l.Kind+": "+l.URL)
	})
}

// Events returns an incident's timeline; unlike Timeline it tells an
// unknown incident (ErrNotFound) from one without events.
func (s *Service) Events(ctx context.Context, id int64) ([]Event, error) {
	if _, err := getIncident(ctx, s.db, id); err != nil {
		return nil, err
	}
	return s.Timeline(ctx, id)
}
