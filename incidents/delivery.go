package incidents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/storage"
)

// delivery is the actor of delivery events on the timeline.
var delivery = Actor{Name: "klaxon", Via: "notifiers"}

// Timeline kinds of delivery attempts, by the attempt's outcome.
var deliveryKinds = map[string]string{
	notifiers.OutcomeSent:    "notification_sent",
	notifiers.OutcomeFailed:  "notification_failed",
	notifiers.OutcomeRetry:   "notification_retrying",
	notifiers.OutcomeSkipped: "notification_skipped",
}

// RecordDelivery is the outbox's OnResult hook: it puts each delivery
// attempt on its incident's timeline (sent, failed with the reason,
// retrying) in the transaction that records the attempt, so the timeline
// and the outbox never disagree. Notifications without an incident, or
// whose incident is gone, are not recorded: failing the hook would make the
// outbox retry the attempt forever.
func RecordDelivery(ctx context.Context, tx *storage.Tx, r notifiers.Result) error {
	if r.IncidentID == 0 {
		return nil
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM incidents WHERE id = ?`, r.IncidentID).Scan(&n); err != nil || n == 0 {
		return err
	}
	kind, ok := deliveryKinds[r.Outcome]
	if !ok {
		kind = "notification_" + r.Outcome
	}
	msg := fmt.Sprintf("%s[%d] to %s: %s (attempt %d)", r.Integration, r.Index, r.Receiver, r.Outcome, r.Attempt)
	if r.Err != nil {
		// Result.Err is already free of URLs and credentials.
		msg += ": " + r.Err.Error()
	}
	return addEvent(ctx, tx, r.IncidentID, r.At, kind, delivery, msg)
}

// notifyAck queues, in the acknowledgement's transaction, the incident's
// acknowledged state to its receiver: Slack edits its message, PagerDuty
// gets acknowledge.
func (s *Service) notifyAck(ctx context.Context, tx *storage.Tx, inc *Incident, at time.Time, by Actor) error {
	m, err := stateMessage(ctx, tx, inc, notifiers.ReasonAcknowledged, at)
	if err != nil {
		return err
	}
	m.Ack = &notifiers.Ack{By: by.Name, Via: by.Via, At: at}
	return s.enqueueUpdate(ctx, tx, m)
}

// notifyResolve queues, in the transaction of a resolution by hand, the
// closed incident to its receiver: Slack shows who resolved it and drops
// the buttons, PagerDuty gets resolve.
func (s *Service) notifyResolve(ctx context.Context, tx *storage.Tx, inc *Incident, at time.Time, by Actor) error {
	m, err := stateMessage(ctx, tx, inc, notifiers.ReasonResolvedByHand, at)
	if err != nil {
		return err
	}
	withAck(m, inc)
	m.Closed = &notifiers.Ack{By: by.Name, Via: by.Via, At: at}
	return s.enqueueUpdate(ctx, tx, m)
}

// stateMessage is the incident's current state as a notification.
func stateMessage(ctx context.Context, tx *storage.Tx, inc *Incident, reason string, at time.Time) (*notifiers.Message, error) {
	alerts, err := alertsForNotification(ctx, tx, inc.ID)
	if err != nil {
		return nil, err
	}
	return &notifiers.Message{
		IncidentID: inc.ID, Receiver: inc.Receiver, GroupKey: inc.GroupKey, GroupLabels: inc.Labels,
		Alerts: alerts, Reason: reason, At: at,
	}, nil
}

// enqueueUpdate queues m; a receiver removed by a reload has no one to tell.
func (s *Service) enqueueUpdate(ctx context.Context, tx *storage.Tx, m *notifiers.Message) error {
	err := s.outbox.Enqueue(ctx, tx, m)
	if errors.Is(err, notifiers.ErrUnknownReceiver) {
		s.logger.Warn("Incident update not notified: the incident's receiver is no longer configured",
			"incident", m.IncidentID, "receiver", m.Receiver, "reason", m.Reason)
		return nil
	}
	return err
}

// withAck adds inc's acknowledgement to m, so that a later notification of
// an acknowledged incident (a new alert joined) still shows who acked it.
func withAck(m *notifiers.Message, inc *Incident) *notifiers.Message {
	if inc.Status == Acknowledged && inc.AckedAt != nil && inc.AckedBy != nil {
		m.Ack = &notifiers.Ack{By: inc.AckedBy.Name, Via: inc.AckedBy.Via, At: *inc.AckedAt}
	}
	return m
}

// alertsForNotification rebuilds the incident's alerts as the router
// hands them over: firing alerts without an end.
func alertsForNotification(ctx context.Context, q storage.Querier, id int64) ([]*alert.Alert, error) {
	rows, err := q.Query(ctx, `SELECT status, labels, annotations, starts_at, ends_at, generator_url
		FROM incident_alerts WHERE incident_id = ? ORDER BY fingerprint`, id)
	if err != nil {
		return nil, fmt.Errorf("read incident alerts: %w", err)
	}
	defer rows.Close()
	var out []*alert.Alert
	for rows.Next() {
		var (
			status, lbl, ann, gen string
			starts, ends          int64
			a                     model.Alert
		)
		if err := rows.Scan(&status, &lbl, &ann, &starts, &ends, &gen); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(lbl), &a.Labels); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(ann), &a.Annotations); err != nil {
			return nil, err
		}
		a.StartsAt, a.GeneratorURL = storage.Time(starts), gen
		if status == "resolved" {
			a.EndsAt = storage.Time(ends)
		}
		out = append(out, alert.New(a, a.StartsAt, false))
	}
	return out, rows.Err()
}

// actorOrAnonymous names an unnamed actor as transition records it.
func actorOrAnonymous(by Actor) Actor {
	if by.Name == "" {
		by.Name = "anonymous"
	}
	return by
}
