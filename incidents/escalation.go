package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/storage"
)

// OnCall is what escalation needs of package oncall: the policy snapshot
// taken when an incident starts, who is on call, and the people paged.
type OnCall interface {
	Snapshot(ctx context.Context, policy string) (*oncall.Snapshot, error)
	OnCall(ctx context.Context, schedule string, at time.Time) (*oncall.OnCall, error)
	User(ctx context.Context, name string) (*oncall.User, error)
	Users(ctx context.Context) ([]oncall.User, error)
}

// escalator is the actor of escalation events on the timeline.
var escalator = Actor{Name: "klaxon", Via: "escalation"}

// pollInterval bounds how long the escalation loop sleeps without being
// woken, so that escalations started by another replica, or by a flush
// (which commits in the router's transaction, after which nothing can wake
// the loop), are seen: a step is at most this late.
const pollInterval = 10 * time.Second

// escalation is a row of incident_escalations.
type escalation struct {
	incidentID int64
	snap       oncall.Snapshot
	step       int
	nextAt     time.Time // zero: stopped (acknowledged, resolved, exhausted)
	ackDueAt   time.Time // zero: no ack timeout pending
}

func getEscalation(ctx context.Context, q storage.Querier, id int64) (*escalation, error) {
	var (
		e            = escalation{incidentID: id}
		snap         string
		next, ackDue int64
	)
	err := q.QueryRow(ctx, `SELECT snapshot, step, next_at, ack_due_at FROM incident_escalations WHERE incident_id = ?`, id).
		Scan(&snap, &e.step, &next, &ackDue)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read escalation of incident %d: %w", id, err)
	}
	if err := json.Unmarshal([]byte(snap), &e.snap); err != nil {
		return nil, fmt.Errorf("escalation of incident %d: %w", id, err)
	}
	e.nextAt, e.ackDueAt = storage.Time(next), storage.Time(ackDue)
	return &e, nil
}

// startEscalation snapshots the policy of inc's receiver, if it has one,
// and runs the first step in the caller's transaction, so that the first
// page is queued with the incident itself. A policy that cannot be read
// is put on the timeline and does not fail the flush: the receiver is
// still notified.
func (s *Service) startEscalation(ctx context.Context, tx *storage.Tx, inc *Incident, now time.Time) error {
	w := s.work.Load()
	if s.oncall == nil || w == nil {
		return nil
	}
	policy := ""
	for _, e := range w.cfg.Escalation {
		if e.Receiver == inc.Receiver {
			policy = e.Policy
		}
	}
	if policy == "" {
		return nil
	}
	snap, err := s.oncall.Snapshot(ctx, policy)
	if err != nil {
		return addEvent(ctx, tx, inc.ID, now, "escalation_failed", escalator, err.Error())
	}
	body, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	err = tx.ExecLater(ctx, `DELETE FROM incident_escalations WHERE incident_id = ?`, inc.ID)
	if err != nil {
		return err
	}
	err = tx.ExecLater(ctx, `INSERT INTO incident_escalations (incident_id, policy, snapshot, step, next_at) VALUES (?, ?, ?, 0, ?)`,
		inc.ID, policy, string(body), storage.Millis(now))
	if err != nil {
		return fmt.Errorf("start escalation: %w", err)
	}
	if err := addEvent(ctx, tx, inc.ID, now, "escalation_started", escalator, "policy "+policy); err != nil {
		return err
	}
	e := &escalation{incidentID: inc.ID, snap: *snap, nextAt: now}
	return s.runStep(ctx, tx, inc, e, now)
}

// runStep pages the targets of e's current step and schedules the next
// one after the step's delay. The update is conditional on the step not
// having moved, so that two replicas never run the same step twice.
func (s *Service) runStep(ctx context.Context, tx *storage.Tx, inc *Incident, e *escalation, now time.Time) error {
	st, ok := e.snap.Step(e.step)
	next := time.Time{}
	if ok {
		next = now.Add(time.Duration(st.Delay))
	}
	res, err := tx.Exec(ctx, `UPDATE incident_escalations SET step = ?, next_at = ? WHERE incident_id = ? AND step = ? AND next_at = ?`,
		e.step+1, storage.Millis(next), e.incidentID, e.step, storage.Millis(e.nextAt))
	if err != nil {
		return fmt.Errorf("advance escalation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // another replica ran this step
	}
	if !ok {
		return addEvent(ctx, tx, inc.ID, now, "escalation_exhausted", escalator,
			fmt.Sprintf("policy %s has no more steps; nobody acknowledged", e.snap.Policy.Name))
	}
	paged, err := s.pageTargets(ctx, tx, inc, e, st, now)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("step %d of policy %s: paged %s", e.step+1, e.snap.Policy.Name, strings.Join(paged, ", "))
	if len(paged) == 0 {
		msg = fmt.Sprintf("step %d of policy %s: nobody to page", e.step+1, e.snap.Policy.Name)
	}
	return addEvent(ctx, tx, inc.ID, now, "escalated", escalator, msg)
}

// pageTargets notifies each target of st and returns what was paged.
// Schedules are resolved now: who is on call is decided when the step
// runs. A schedule with nobody on call is put on the timeline.
func (s *Service) pageTargets(ctx context.Context, tx *storage.Tx, inc *Incident, e *escalation, st oncall.Step, now time.Time) ([]string, error) {
	var paged []string
	m, err := stateMessage(ctx, tx, inc, "escalation", now)
	if err != nil {
		return nil, err
	}
	withAck(m, inc)
	for _, t := range st.Targets {
		switch {
		case t.Receiver != "":
			c := *m
			c.Receiver = t.Receiver
			s.withAckURL(&c, "")
			if err := s.enqueueUpdate(ctx, tx, &c); err != nil {
				return nil, err
			}
			paged = append(paged, "receiver "+t.Receiver)
		case t.User != "":
			u, ok := e.snap.Users[t.User]
			if !ok {
				continue
			}
			p, err := s.pageUser(ctx, tx, inc, u, m, now)
			if err != nil {
				return nil, err
			}
			paged = append(paged, p...)
		case t.Schedule != "":
			oc, err := s.oncall.OnCall(ctx, t.Schedule, now)
			if err != nil || len(oc.OnCall) == 0 {
				reason := "nobody is on call"
				if err != nil {
					reason = err.Error()
				}
				if err := addEvent(ctx, tx, inc.ID, now, "escalation_step_empty", escalator,
					fmt.Sprintf("schedule %s: %s", t.Schedule, reason)); err != nil {
					return nil, err
				}
				continue
			}
			for _, sh := range oc.OnCall {
				u, err := s.oncall.User(ctx, sh.User)
				if err != nil {
					continue
				}
				p, err := s.pageUser(ctx, tx, inc, *u, m, now)
				if err != nil {
					return nil, err
				}
				paged = append(paged, p...)
			}
		}
	}
	return paged, nil
}

// pageUser notifies u through each of their contact methods. A contact
// the outbox has no receiver for (see WithContactReceivers and
// ContactResolver) is put on the timeline as a failed page; the others are
// still paged.
func (s *Service) pageUser(ctx context.Context, tx *storage.Tx, inc *Incident, u oncall.User, m *notifiers.Message, now time.Time) ([]string, error) {
	var paged []string
	for _, c := range u.Contacts {
		cm := *m
		cm.Receiver = ContactReceiver(u.Name, c)
		s.withAckURL(&cm, u.Name)
		err := s.outbox.Enqueue(ctx, tx, &cm)
		if errors.Is(err, notifiers.ErrUnknownReceiver) {
			msg := fmt.Sprintf("%s via %s: no way to deliver it (email needs the global SMTP settings, Slack a slack_config with a bot token; or the contact method was removed)", u.Name, c.Type)
			if err := addEvent(ctx, tx, inc.ID, now, "page_failed", escalator, msg); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		paged = append(paged, fmt.Sprintf("%s (%s)", u.Name, c.Type))
	}
	if len(u.Contacts) == 0 {
		return paged, addEvent(ctx, tx, inc.ID, now, "page_failed", escalator, u.Name+" has no contact methods")
	}
	return paged, nil
}

// ContactReceiver names the receiver that delivers to one contact method
// of a user; WithContactReceivers builds these receivers for the users of
// the file, ContactResolver for the others.
func ContactReceiver(user string, c oncall.ContactMethod) string {
	return contactPrefix + user + ":" + string(c.Type) + ":" + c.To
}

const contactPrefix = "klaxon-user:"
