package oncall

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// plan is a validated schedule ready for computing: zones loaded, lengths
// and times parsed.
type plan struct {
	name   string
	zone   string
	loc    *time.Location
	layers []*layer
}

// layer is one compiled rotation.
type layer struct {
	name         string
	participants []string
	loc          *time.Location
	// start is the first hand-off as a wall-clock time: a time.Time in UTC
	// whose fields are the local date and time in loc.
	start time.Time
	// startAt is the first hand-off as an instant.
	startAt time.Time
	length  time.Duration
	// absolute layers count real time (hourly); the others count
	// wall-clock time, so hand-offs keep their local time across DST.
	absolute bool
	only     *window
}

// window is a compiled Window.
type window struct {
	days     [7]bool // indexed by time.Weekday
	from, to time.Duration
}

// minShift keeps shift boundaries few enough to list weeks of them.
const minShift = time.Hour

// compile checks s and fills in its defaults (time zone UTC, rotation
// names, hand-off 00:00).
func compile(s *Schedule) (*plan, error) {
	bad := func(field, msg string) error {
		return &ValidationError{Kind: "schedule", Name: s.Name, Field: field, Msg: msg}
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil || strings.EqualFold(s.TimeZone, "local") {
		return nil, bad("time_zone", fmt.Sprintf("unknown time zone %q (want an IANA name such as Europe/Berlin)", s.TimeZone))
	}
	if len(s.Rotations) == 0 {
		return nil, bad("rotations", "a schedule needs at least one rotation")
	}
	p := &plan{name: s.Name, zone: s.TimeZone, loc: loc}
	names := map[string]bool{}
	for i := range s.Rotations {
		r := &s.Rotations[i]
		field := fmt.Sprintf("rotations[%d]", i)
		if r.Name == "" {
			r.Name = fmt.Sprintf("rotation-%d", i+1)
		}
		if names[r.Name] {
			return nil, bad(field+".name", fmt.Sprintf("rotation name %q is used twice", r.Name))
		}
		names[r.Name] = true
		l, err := compileRotation(r, loc)
		if err != nil {
			return nil, bad(field+"."+err.field, err.msg)
		}
		p.layers = append(p.layers, l)
	}
	return p, nil
}

type fieldErr struct{ field, msg string }

func compileRotation(r *Rotation, loc *time.Location) (*layer, *fieldErr) {
	if len(r.Participants) == 0 {
		return nil, &fieldErr{"participants", "a rotation needs at least one participant"}
	}
	l := &layer{name: r.Name, participants: r.Participants, loc: loc}
	switch r.Shift {
	case Hourly:
		l.length, l.absolute = time.Hour, true
	case Daily:
		l.length = 24 * time.Hour
	case Weekly:
		l.length = 7 * 24 * time.Hour
	case "":
		return nil, &fieldErr{"shift", "is required: hourly, daily, weekly or a duration such as 12h or 3d"}
	default:
		d, err := model.ParseDuration(r.Shift)
		if err != nil {
			gd, gerr := time.ParseDuration(r.Shift)
			if gerr != nil {
				return nil, &fieldErr{"shift", fmt.Sprintf("%q: want hourly, daily, weekly or a duration such as 12h or 3d", r.Shift)}
			}
			d = model.Duration(gd)
		}
		if time.Duration(d) < minShift {
			return nil, &fieldErr{"shift", fmt.Sprintf("%q is shorter than %v", r.Shift, minShift)}
		}
		l.length = time.Duration(d)
	}
	day, err := time.Parse(time.DateOnly, r.Start)
	if err != nil {
		return nil, &fieldErr{"start", fmt.Sprintf("%q: want the local date of the first shift, YYYY-MM-DD", r.Start)}
	}
	if day.Before(earliest) || !day.Before(latest) {
		return nil, &fieldErr{"start", fmt.Sprintf("%q is outside %d to %d", r.Start, earliest.Year(), latest.Year()-1)}
	}
	if r.Handoff == "" {
		r.Handoff = "00:00"
	}
	tod, ok := parseClock(r.Handoff, false)
	if !ok {
		return nil, &fieldErr{"handoff", fmt.Sprintf("%q: want a local time of day, HH:MM", r.Handoff)}
	}
	l.start = day.Add(tod)
	l.startAt = resolveLocal(l.start, loc)
	if r.Only != nil {
		w, ferr := compileWindow(r.Only)
		if ferr != nil {
			return nil, &fieldErr{"only." + ferr.field, ferr.msg}
		}
		l.only = w
	}
	return l, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func compileWindow(o *Window) (*window, *fieldErr) {
	w := &window{}
	if len(o.Weekdays) == 0 {
		w.days = [7]bool{true, true, true, true, true, true, true}
	}
	for i, d := range o.Weekdays {
		k := strings.ToLower(d)
		if len(k) > 3 {
			k = k[:3]
		}
		wd, ok := weekdays[k]
		if !ok {
			return nil, &fieldErr{fmt.Sprintf("weekdays[%d]", i), fmt.Sprintf("%q is not a weekday (mon, tue, ...)", d)}
		}
		w.days[wd] = true
	}
	var ok bool
	if w.from, ok = parseClock(o.From, false); o.From != "" && !ok {
		return nil, &fieldErr{"from", fmt.Sprintf("%q: want HH:MM", o.From)}
	}
	if w.to, ok = parseClock(o.To, true); o.To != "" && !ok {
		return nil, &fieldErr{"to", fmt.Sprintf("%q: want HH:MM", o.To)}
	}
	return w, nil
}

// parseClock reads HH:MM as time since midnight; 24:00 only when end is
// set, as the end of a window.
func parseClock(s string, end bool) (time.Duration, bool) {
	if s == "" {
		return 0, true
	}
	if end && s == "24:00" {
		return 24 * time.Hour, true
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true
}

// wallClock returns the local date and time of t in loc as a UTC time with
// the same fields, so that wall-clock arithmetic is plain addition.
func wallClock(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// resolveLocal turns a wall-clock time into an instant in loc. Where DST
// makes the wall-clock time ambiguous or missing it follows RFC 5545
// (3.3.5): a time that occurs twice means its first occurrence; a time
// that does not exist is read with the offset in force before the gap,
// which moves it forward by the gap (02:30 becomes 03:30 on a one-hour
// spring-forward). The standard library leaves the first choice open.
func resolveLocal(wall time.Time, loc *time.Location) time.Time {
	guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	var best time.Time
	for _, probe := range []time.Time{guess.Add(-24 * time.Hour), guess, guess.Add(24 * time.Hour)} {
		_, off := probe.Zone()
		cand := wall.Add(-time.Duration(off) * time.Second)
		if wallClock(cand, loc).Equal(wall) && (best.IsZero() || cand.Before(best)) {
			best = cand
		}
	}
	if best.IsZero() {
		_, off := guess.Add(-24 * time.Hour).Zone()
		best = wall.Add(-time.Duration(off) * time.Second)
	}
	return best.UTC()
}

// handoff returns the instant shift k starts; shift 0 is the first.
func (l *layer) handoff(k int64) time.Time {
	if l.absolute {
		return l.startAt.Add(time.Duration(k) * l.length)
	}
	return resolveLocal(l.start.Add(time.Duration(k)*l.length), l.loc)
}

// shiftAt returns k such that handoff(k) <= t < handoff(k+1). A wall-clock
// shift that falls wholly into a DST gap is empty and never returned.
func (l *layer) shiftAt(t time.Time) int64 {
	var since time.Duration
	if l.absolute {
		since = t.Sub(l.startAt)
	} else {
		since = wallClock(t, l.loc).Sub(l.start)
	}
	k := int64(since / l.length)
	if since < 0 && since%l.length != 0 {
		k-- // floor, not truncation
	}
	for l.handoff(k).After(t) {
		k--
	}
	for !l.handoff(k + 1).After(t) {
		k++
	}
	return k
}

// onCall returns who this layer has on call at t, if anyone, and the
// number of their shift.
func (l *layer) onCall(t time.Time) (string, int64, bool) {
	if t.Before(l.startAt) || (l.only != nil && !l.only.contains(wallClock(t, l.loc))) {
		return "", 0, false
	}
	k := l.shiftAt(t)
	return l.participants[k%int64(len(l.participants))], k, true
}

// contains reports whether the wall-clock time w is inside the window.
func (w *window) contains(wall time.Time) bool {
	day := wall.Truncate(24 * time.Hour)
	tod := wall.Sub(day)
	wd := wall.Weekday()
	if w.from < w.to {
		return w.days[wd] && tod >= w.from && tod < w.to
	}
	// The window runs past midnight: the part after From belongs to
	// today, the part before To to yesterday's window.
	return (w.days[wd] && tod >= w.from) || (w.days[(wd+6)%7] && tod < w.to)
}
