package web

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
)

func init() {
	uiPageRoutes = append(uiPageRoutes, func(s *Server, r chi.Router) {
		r.Get("/oncall", s.uiOnCall)
	})
}

// onCallCalendarDays is how far ahead the on-call page's calendar looks:
// this week and the next, which is what people plan swaps for.
const onCallCalendarDays = 14

// uiOnCallLiveEvery refreshes who is on call; hand-offs are rare, but a
// page left open on a wall screen must not show yesterday's person.
const uiOnCallLiveEvery = 30 * time.Second

// scheduleShifter is the calendar of one schedule (oncall.Service has it).
// Without it the page builds the calendar from each person's shifts.
type scheduleShifter interface {
	ScheduleShifts(ctx context.Context, schedule string, from, to time.Time) ([]oncall.Shift, error)
}

// onCallPage is the data of the on-call page.
type onCallPage struct {
	Schedules []onCallSchedule
	Policies  []oncall.Policy
	// Users are offered in the override form.
	Users []oncall.User
}

// onCallSchedule is one schedule as the page shows it.
type onCallSchedule struct {
	Schedule oncall.Schedule
	Zone     *time.Location
	// Now is who is on call now, and who next from when; Error is set
	// instead when the schedule could not be evaluated.
	Now       *oncall.OnCall
	Days      []calendarDay
	Overrides []oncall.Override
	Error     string
}

// calendarDay is one local day of a schedule's calendar.
type calendarDay struct {
	Date    time.Time // local midnight
	Today   bool
	Entries []calendarEntry
}

// calendarEntry is one person's time on call within a day, as local clock
// times; To is "24:00" when the shift runs past midnight.
type calendarEntry struct {
	User, From, To string
	Override       bool
	Rotation       string
}

// uiOnCall shows, per schedule, who is on call now and next, the coming
// two weeks as a day-by-day calendar, and the overrides; then the
// escalation policies.
func (s *Server) uiOnCall(w http.ResponseWriter, r *http.Request) {
	oc := s.opts.OnCall
	if oc == nil {
		s.uiError(w, r, http.StatusNotFound, "On-call schedules are not enabled on this server.")
		return
	}
	ctx := r.Context()
	now := s.opts.Now()
	scheds, err := oc.Schedules(ctx)
	if err != nil {
		s.uiError(w, r, http.StatusInternalServerError, "Listing schedules failed: "+err.Error())
		return
	}
	p := &onCallPage{}
	if p.Policies, err = oc.Policies(ctx); err != nil {
		s.uiError(w, r, http.StatusInternalServerError, "Listing escalation policies failed: "+err.Error())
		return
	}
	if p.Users, err = oc.Users(ctx); err != nil {
		s.uiError(w, r, http.StatusInternalServerError, "Listing users failed: "+err.Error())
		return
	}
	for _, sc := range scheds {
		p.Schedules = append(p.Schedules, s.onCallSchedule(ctx, sc, p.Users, now))
	}
	s.renderPage(w, r, http.StatusOK, "oncall", &uiPage{Title: "On-call", Nav: "oncall", Live: uiOnCallLiveEvery, Data: p, Now: now})
}

// onCallSchedule gathers what the page shows of one schedule. A schedule
// that fails says so in its card rather than taking the page down.
func (s *Server) onCallSchedule(ctx context.Context, sc oncall.Schedule, users []oncall.User, now time.Time) onCallSchedule {
	out := onCallSchedule{Schedule: sc, Zone: time.UTC}
	if sc.TimeZone != "" {
		if loc, err := time.LoadLocation(sc.TimeZone); err == nil {
			out.Zone = loc
		}
	}
	var err error
	if out.Now, err = s.opts.OnCall.OnCall(ctx, sc.Name, now); err != nil {
		out.Error = err.Error()
		return out
	}
	local := now.In(out.Zone)
	from := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, out.Zone)
	to := time.Date(local.Year(), local.Month(), local.Day()+onCallCalendarDays, 0, 0, 0, 0, out.Zone)
	shifts, err := s.scheduleShifts(ctx, sc.Name, users, from, to)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Days = calendar(shifts, from, onCallCalendarDays, out.Zone, now)
	if out.Overrides, err = s.opts.OnCall.Overrides(ctx, sc.Name, now, time.Time{}); err != nil {
		out.Error = err.Error()
	}
	return out
}

// scheduleShifts is a schedule's calendar, from the service when it has
// one, else from every person's shifts.
func (s *Server) scheduleShifts(ctx context.Context, schedule string, users []oncall.User, from, to time.Time) ([]oncall.Shift, error) {
	if ss, ok := s.opts.OnCall.(scheduleShifter); ok {
		return ss.ScheduleShifts(ctx, schedule, from, to)
	}
	var out []oncall.Shift
	for _, u := range users {
		list, err := s.opts.OnCall.UserShifts(ctx, u.Name, from, to)
		if err != nil {
			return nil, err
		}
		for _, sh := range list {
			if sh.Schedule == schedule {
				out = append(out, sh)
			}
		}
	}
	return out, nil
}

// calendar lays shifts out over days local days from from (a local
// midnight). Days are built from the calendar date, not by adding 24
// hours, so that a DST change does not shift them.
func calendar(shifts []oncall.Shift, from time.Time, days int, loc *time.Location, now time.Time) []calendarDay {
	out := make([]calendarDay, 0, days)
	for i := range days {
		start := time.Date(from.Year(), from.Month(), from.Day()+i, 0, 0, 0, 0, loc)
		end := time.Date(from.Year(), from.Month(), from.Day()+i+1, 0, 0, 0, 0, loc)
		d := calendarDay{Date: start, Today: !now.Before(start) && now.Before(end)}
		for _, sh := range shifts {
			if !sh.End.After(start) || !sh.Start.Before(end) {
				continue
			}
			e := calendarEntry{User: sh.User, From: "00:00", To: "24:00", Override: sh.OverrideID != 0, Rotation: sh.Rotation}
			if sh.Start.After(start) {
				e.From = sh.Start.In(loc).Format("15:04")
			}
			if sh.End.Before(end) {
				e.To = sh.End.In(loc).Format("15:04")
			}
			// A person who follows themselves at a hand-off (a one-person
			// rotation) is one stretch on the calendar.
			if n := len(d.Entries); n > 0 {
				if last := &d.Entries[n-1]; last.User == e.User && last.To == e.From && last.Override == e.Override && last.Rotation == e.Rotation {
					last.To = e.To
					continue
				}
			}
			d.Entries = append(d.Entries, e)
		}
		out = append(out, d)
	}
	return out
}
