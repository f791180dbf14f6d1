package oncall

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// earliest and latest bound the times the service computes with, so that
// wall-clock arithmetic in nanoseconds cannot overflow.
var (
	earliest = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func checkTime(kind, name, field string, t time.Time) error {
	if t.Before(earliest) || !t.Before(latest) {
		return &ValidationError{Kind: kind, Name: name, Field: field,
			Msg: fmt.Sprintf("%s is outside %d to %d", t.Format(time.RFC3339), earliest.Year(), latest.Year()-1)}
	}
	return nil
}

// Overrides lists a schedule's overrides whose window meets [from, to); a
// zero to means no upper bound.
func (s *Service) Overrides(ctx context.Context, schedule string, from, to time.Time) ([]Override, error) {
	if _, err := s.schedule(ctx, s.db, schedule); err != nil {
		return nil, err
	}
	return listOverrides(ctx, s.db, schedule, from, to)
}

// AddOverride stores an override of o.Schedule, which may come from either
// source. Its window must not overlap another override of the same
// schedule that concerns the same person.
func (s *Service) AddOverride(ctx context.Context, o Override) (*Override, error) {
	o.ID = 0
	o.Start, o.End = o.Start.UTC().Truncate(time.Millisecond), o.End.UTC().Truncate(time.Millisecond)
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		if _, err := s.schedule(ctx, tx, o.Schedule); err != nil {
			return err
		}
		r, err := refsOf(ctx, tx, s.world())
		if err != nil {
			return err
		}
		if err := validateOverride(&o, r.users); err != nil {
			return err
		}
		for field, t := range map[string]time.Time{"start": o.Start, "end": o.End} {
			if err := checkTime("override", o.Schedule, field, t); err != nil {
				return err
			}
		}
		existing, err := listOverrides(ctx, tx, o.Schedule, o.Start, o.End)
		if err != nil {
			return err
		}
		if err := overlap(&o, existing); err != nil {
			return err
		}
		return insertOverride(ctx, tx, &o, s.clock.Now())
	})
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// DeleteOverride removes one override of a schedule.
func (s *Service) DeleteOverride(ctx context.Context, schedule string, id int64) error {
	return deleteOverride(ctx, s.db, schedule, id)
}

// planOf loads and compiles a schedule and the overrides that may matter
// within span of [from, to).
func (s *Service) planOf(ctx context.Context, sc *Schedule, from, to time.Time) (*plan, []Override, error) {
	p, err := compile(sc)
	if err != nil {
		return nil, nil, fmt.Errorf("schedule %q: %w", sc.Name, err)
	}
	ovs, err := listOverrides(ctx, s.db, sc.Name, from.Add(-p.span()), to.Add(p.span()))
	if err != nil {
		return nil, nil, err
	}
	return p, ovs, nil
}

// OnCall says who is on call for a schedule at at, since when and until
// when, and who comes next.
func (s *Service) OnCall(ctx context.Context, schedule string, at time.Time) (*OnCall, error) {
	if err := checkTime("schedule", schedule, "at", at); err != nil {
		return nil, err
	}
	sc, err := s.schedule(ctx, s.db, schedule)
	if err != nil {
		return nil, err
	}
	p, ovs, err := s.planOf(ctx, sc, at, at)
	if err != nil {
		return nil, err
	}
	return p.onCall(at.UTC(), ovs), nil
}

// UserShifts lists a user's shifts on every schedule that meet [from, to),
// ordered by start. Shifts are whole: one that began before from keeps its
// real start.
func (s *Service) UserShifts(ctx context.Context, user string, from, to time.Time) ([]Shift, error) {
	for field, t := range map[string]time.Time{"from": from, "to": to} {
		if err := checkTime("user", user, field, t); err != nil {
			return nil, err
		}
	}
	if _, err := s.User(ctx, user); err != nil {
		return nil, err
	}
	scheds, err := s.Schedules(ctx)
	if err != nil {
		return nil, err
	}
	var out []Shift
	for i := range scheds {
		p, ovs, err := s.planOf(ctx, &scheds[i], from, to)
		if err != nil {
			return nil, err
		}
		segs := p.timeline(from.Add(-p.span()).UTC(), to.Add(p.span()).UTC(), ovs)
		for _, sh := range shifts(p.name, segs) {
			if sh.User == user && sh.End.After(from) && sh.Start.Before(to) {
				out = append(out, sh)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Shift) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// ScheduleShifts lists one schedule's shifts, overrides applied, that meet
// [from, to), ordered by start: the calendar of a schedule. Shifts are
// whole, as in UserShifts.
func (s *Service) ScheduleShifts(ctx context.Context, schedule string, from, to time.Time) ([]Shift, error) {
	for field, t := range map[string]time.Time{"from": from, "to": to} {
		if err := checkTime("schedule", schedule, field, t); err != nil {
			return nil, err
		}
	}
	sc, err := s.schedule(ctx, s.db, schedule)
	if err != nil {
		return nil, err
	}
	p, ovs, err := s.planOf(ctx, sc, from, to)
	if err != nil {
		return nil, err
	}
	out := []Shift{}
	for _, sh := range shifts(p.name, p.timeline(from.Add(-p.span()).UTC(), to.Add(p.span()).UTC(), ovs)) {
		if sh.End.After(from) && sh.Start.Before(to) {
			out = append(out, sh)
		}
	}
	slices.SortStableFunc(out, func(a, b Shift) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// Snapshot is an escalation policy as it stood when an incident started,
// with the users it pages directly. The escalation engine stores it with
// the incident, so that editing or deleting the policy does not change an
// escalation in progress. Schedule targets stay names: who is on call is
// decided when the step runs, not when the incident starts.
type Snapshot struct {
	Policy  Policy          `json:"policy"`
	Users   map[string]User `json:"users,omitempty"`
	TakenAt time.Time       `json:"takenAt"`
}

// Step returns the step to run as the n-th escalation (0 is the first),
// counting repetitions, and false once the policy is exhausted.
func (s *Snapshot) Step(n int) (Step, bool) {
	steps := s.Policy.Steps
	if n < 0 || len(steps) == 0 || n >= len(steps)*(s.Policy.Repeat+1) {
		return Step{}, false
	}
	return steps[n%len(steps)], true
}

// Snapshot copies a policy and the users it targets for an incident that
// starts now.
func (s *Service) Snapshot(ctx context.Context, policy string) (*Snapshot, error) {
	p, err := s.Policy(ctx, policy)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Policy: *p, Users: map[string]User{}, TakenAt: s.clock.Now().UTC()}
	// Copy the steps so that the snapshot shares nothing with the live
	// configuration.
	snap.Policy.Steps = make([]Step, len(p.Steps))
	for i, st := range p.Steps {
		snap.Policy.Steps[i] = Step{Delay: st.Delay, Targets: slices.Clone(st.Targets)}
		for _, t := range st.Targets {
			if t.User == "" {
				continue
			}
			u, err := s.User(ctx, t.User)
			if err != nil {
				return nil, fmt.Errorf("escalation policy %q: %w", policy, err)
			}
			u.Contacts = slices.Clone(u.Contacts)
			snap.Users[u.Name] = *u
		}
	}
	return snap, nil
}
