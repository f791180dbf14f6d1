package oncall

import (
	"slices"
	"sort"
	"time"
)

// Shift is a stretch of time one person is on call for one schedule, and
// what put them there: a rotation or an override.
type Shift struct {
	Schedule   string    `json:"schedule"`
	User       string    `json:"user"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Rotation   string    `json:"rotation,omitempty"`
	OverrideID int64     `json:"overrideId,omitempty"`
}

// OnCall answers "who is on call for a schedule at a time".
type OnCall struct {
	Schedule string    `json:"schedule"`
	TimeZone string    `json:"timeZone"`
	At       time.Time `json:"at"`
	// OnCall are the shifts covering At; empty when nobody is on call.
	OnCall []Shift `json:"onCall"`
	// NextChange is when the set of people on call next changes, and Next
	// are the shifts from then; both are empty when nothing changes in the
	// weeks looked at.
	NextChange *time.Time `json:"nextChange,omitempty"`
	Next       []Shift    `json:"next"`
}

// assignment is one person on call and why. The shift number keeps a
// person who follows themselves (a one-person rotation) in separate
// shifts, as the hand-offs define them.
type assignment struct {
	user     string
	rotation string
	shift    int64
	override int64
}

// segment is a stretch in which the same people are on call.
type segment struct {
	start, end time.Time
	who        []assignment
}

// at returns who is on call at t. Overrides must be sorted by start and id.
func (p *plan) at(t time.Time, overrides []Override) []assignment {
	var who []assignment
	for _, l := range p.layers {
		if u, k, ok := l.onCall(t); ok {
			// A later layer with someone on call replaces the earlier ones.
			who = []assignment{{user: u, rotation: l.name, shift: k}}
		}
	}
	find := func(u string) int {
		return slices.IndexFunc(who, func(a assignment) bool { return a.user == u })
	}
	for _, o := range overrides {
		if t.Before(o.Start) || !t.Before(o.End) {
			continue
		}
		switch o.Kind() {
		case "remove":
			if i := find(o.Remove); i >= 0 {
				who = slices.Delete(who, i, i+1)
			}
		case "replace":
			if i := find(o.Remove); i >= 0 {
				who = slices.Delete(who, i, i+1)
				if find(o.Add) < 0 {
					who = slices.Insert(who, i, assignment{user: o.Add, override: o.ID})
				}
			}
		case "add":
			if find(o.Add) < 0 {
				who = append(who, assignment{user: o.Add, override: o.ID})
			}
		}
	}
	return who
}

// boundaries lists every instant in (from, to) at which who is on call may
// change: hand-offs, window edges and override edges.
func (p *plan) boundaries(from, to time.Time, overrides []Override) []time.Time {
	out := []time.Time{from}
	add := func(t time.Time) {
		if t.After(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	for _, l := range p.layers {
		add(l.startAt)
		first := from
		if first.Before(l.startAt) {
			first = l.startAt
		}
		for k := l.shiftAt(first) + 1; ; k++ {
			h := l.handoff(k)
			if !h.Before(to) {
				break
			}
			add(h)
		}
		if l.only != nil {
			day := wallClock(from, l.loc).Truncate(24 * time.Hour).Add(-24 * time.Hour)
			end := wallClock(to, l.loc).Add(24 * time.Hour)
			for ; day.Before(end); day = day.Add(24 * time.Hour) {
				add(resolveLocal(day.Add(l.only.from), l.loc))
				add(resolveLocal(day.Add(l.only.to), l.loc))
			}
		}
	}
	for _, o := range overrides {
		add(o.Start)
		add(o.End)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// timeline splits [from, to) into segments of constant on-call people,
// merging neighbours where nothing changes.
func (p *plan) timeline(from, to time.Time, overrides []Override) []segment {
	bs := append(p.boundaries(from, to, overrides), to)
	var segs []segment
	for i := 0; i+1 < len(bs); i++ {
		who := p.at(bs[i], overrides)
		if n := len(segs); n > 0 && slices.Equal(segs[n-1].who, who) {
			segs[n-1].end = bs[i+1]
			continue
		}
		segs = append(segs, segment{start: bs[i], end: bs[i+1], who: who})
	}
	return segs
}

// shifts turns segments into per-person shifts: a shift lasts as long as
// the same person is on call for the same reason.
func shifts(schedule string, segs []segment) []Shift {
	var out []Shift
	open := map[assignment]int{} // index into out
	for _, s := range segs {
		next := map[assignment]int{}
		for _, a := range s.who {
			if i, ok := open[a]; ok && out[i].End.Equal(s.start) {
				out[i].End = s.end
				next[a] = i
				continue
			}
			out = append(out, Shift{Schedule: schedule, User: a.user, Start: s.start, End: s.end, Rotation: a.rotation, OverrideID: a.override})
			next[a] = len(out) - 1
		}
		open = next
	}
	return out
}

// span is how far around a time the shifts that cover it are looked for:
// long enough to see whole shifts of every layer.
func (p *plan) span() time.Duration {
	d := 14 * 24 * time.Hour
	for _, l := range p.layers {
		if 2*l.length > d {
			d = 2 * l.length
		}
	}
	return d
}

// onCall computes the answer for at. Shifts reaching the edge of the
// window looked at (span on each side) are cut there.
func (p *plan) onCall(at time.Time, overrides []Override) *OnCall {
	from, to := at.Add(-p.span()), at.Add(p.span())
	for _, o := range overrides {
		if !at.Before(o.Start) && at.Before(o.End) {
			from, to = minTime(from, o.Start), maxTime(to, o.End)
		}
	}
	segs := p.timeline(from, to, overrides)
	all := shifts(p.name, segs)
	res := &OnCall{Schedule: p.name, TimeZone: p.zone, At: at, OnCall: covering(all, at), Next: []Shift{}}
	for _, s := range segs {
		// Neighbouring segments differ, so the first one after at is
		// the next change.
		if s.start.After(at) {
			next := s.start
			res.NextChange = &next
			res.Next = covering(all, next)
			break
		}
	}
	return res
}

func covering(all []Shift, t time.Time) []Shift {
	out := []Shift{}
	for _, s := range all {
		if !t.Before(s.Start) && t.Before(s.End) {
			out = append(out, s)
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
