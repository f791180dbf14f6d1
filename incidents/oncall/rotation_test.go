package oncall

import (
	"testing"
	"time"
)

func mustPlan(t *testing.T, s Schedule) *plan {
	t.Helper()
	if s.Name == "" {
		s.Name = "test"
	}
	p, err := compile(&s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rotation(shift, start, handoff string, people ...string) Rotation {
	return Rotation{Participants: people, Shift: shift, Start: start, Handoff: handoff}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// shiftCase expects the shift covering at to be user's, from start to end
// (all RFC 3339).
type shiftCase struct {
	name, at, user, start, end string
}

func checkShifts(t *testing.T, p *plan, cases []shiftCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := p.onCall(utc(c.at), nil).OnCall
			if len(got) != 1 {
				t.Fatalf("at %s: on call %+v, want just %s", c.at, got, c.user)
			}
			s := got[0]
			if s.User != c.user || !s.Start.Equal(utc(c.start)) || !s.End.Equal(utc(c.end)) {
				t.Fatalf("at %s: %s from %s to %s, want %s from %s to %s", c.at,
					s.User, s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339), c.user, c.start, c.end)
			}
		})
	}
}

// A daily 09:00 hand-off stays at 09:00 local across both DST changes, so
// the shifts that contain them are 23 and 25 hours long.
func TestDailyHandoffKeepsLocalTimeAcrossDSTInBerlin(t *testing.T) {
	p := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{rotation("daily", "2026-03-27", "09:00", "alice", "bob")}})
	checkShifts(t, p, []shiftCase{
		{"before the change", "2026-03-27T12:00:00+01:00", "alice", "2026-03-27T09:00:00+01:00", "2026-03-28T09:00:00+01:00"},
		{"spring forward: 23h shift", "2026-03-29T08:59:00+02:00", "bob", "2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00"},
		{"after spring forward", "2026-03-29T09:00:00+02:00", "alice", "2026-03-29T09:00:00+02:00", "2026-03-30T09:00:00+02:00"},
		// 2026-10-24 is 211 days after the start: an odd shift, bob's.
		{"fall back: 25h shift", "2026-10-25T02:30:00+01:00", "bob", "2026-10-24T09:00:00+02:00", "2026-10-25T09:00:00+01:00"},
		{"after fall back", "2026-10-25T09:00:00+01:00", "alice", "2026-10-25T09:00:00+01:00", "2026-10-26T09:00:00+01:00"},
	})
}

func TestWeeklyHandoffKeepsLocalTimeAcrossDSTInNewYork(t *testing.T) {
	// Mondays at 10:00; DST starts Sunday 2026-03-08 and ends Sunday 2026-11-01.
	p := mustPlan(t, Schedule{TimeZone: "America/New_York", Rotations: []Rotation{rotation("weekly", "2026-03-02", "10:00", "alice", "bob", "carol")}})
	checkShifts(t, p, []shiftCase{
		{"spring forward: 167h week", "2026-03-08T12:00:00-04:00", "alice", "2026-03-02T10:00:00-05:00", "2026-03-09T10:00:00-04:00"},
		{"week after", "2026-03-09T10:00:00-04:00", "bob", "2026-03-09T10:00:00-04:00", "2026-03-16T10:00:00-04:00"},
		// 2026-10-26 is week 34 after the start: 34 mod 3 = 1, bob.
		{"fall back: 169h week", "2026-11-01T01:30:00-05:00", "bob", "2026-10-26T10:00:00-04:00", "2026-11-02T10:00:00-05:00"},
	})
}

func TestDailyHandoffAcrossDSTInNewYork(t *testing.T) {
	p := mustPlan(t, Schedule{TimeZone: "America/New_York", Rotations: []Rotation{rotation("daily", "2026-03-07", "17:00", "alice", "bob")}})
	checkShifts(t, p, []shiftCase{
		{"spring forward: 23h", "2026-03-08T03:00:00-04:00", "alice", "2026-03-07T17:00:00-05:00", "2026-03-08T17:00:00-04:00"},
		// 2026-10-31 is 238 days after the start: even, alice.
		{"fall back: 25h", "2026-11-01T01:30:00-05:00", "alice", "2026-10-31T17:00:00-04:00", "2026-11-01T17:00:00-05:00"},
	})
}

// A hand-off at a local time that does not exist on the DST day happens at
// that time read with the offset before the gap (RFC 5545), i.e. one hour
// later by the clock: 02:30 becomes 03:30.
func TestHandoffInSpringForwardGap(t *testing.T) {
	berlin := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{rotation("daily", "2026-03-28", "02:30", "alice", "bob")}})
	checkShifts(t, berlin, []shiftCase{
		{"shift into the gap day", "2026-03-29T03:10:00+02:00", "alice", "2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00"},
		{"shift from the moved hand-off", "2026-03-29T03:30:00+02:00", "bob", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"},
	})
	ny := mustPlan(t, Schedule{TimeZone: "America/New_York", Rotations: []Rotation{rotation("daily", "2026-03-07", "02:30", "alice", "bob")}})
	checkShifts(t, ny, []shiftCase{
		{"new york gap", "2026-03-08T03:00:00-04:00", "alice", "2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00"},
	})
	// Weekly on Sundays 02:30: only the DST Sunday's hand-off moves.
	weekly := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{rotation("weekly", "2026-03-22", "02:30", "alice", "bob")}})
	checkShifts(t, weekly, []shiftCase{
		{"weekly into the gap", "2026-03-29T03:00:00+02:00", "alice", "2026-03-22T02:30:00+01:00", "2026-03-29T03:30:00+02:00"},
		{"weekly after the gap", "2026-04-01T00:00:00+02:00", "bob", "2026-03-29T03:30:00+02:00", "2026-04-05T02:30:00+02:00"},
	})
}

// A hand-off at a local time that exists twice happens at its first
// occurrence (RFC 5545), so no shift is stretched by the repeated hour.
func TestHandoffInFallBackRepeatedHour(t *testing.T) {
	berlin := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{rotation("daily", "2026-10-24", "02:30", "alice", "bob")}})
	checkShifts(t, berlin, []shiftCase{
		{"first 02:30 ends the shift", "2026-10-25T02:29:00+02:00", "alice", "2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00"},
		{"second 02:30 is inside the next", "2026-10-25T02:30:00+01:00", "bob", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
	})
	ny := mustPlan(t, Schedule{TimeZone: "America/New_York", Rotations: []Rotation{rotation("daily", "2026-10-31", "01:30", "alice", "bob")}})
	checkShifts(t, ny, []shiftCase{
		{"new york repeated hour", "2026-11-01T01:40:00-05:00", "bob", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"},
	})
}

// Hourly shifts are real hours: on the short day there are 23 of them.
func TestHourlyShiftsAreRealHours(t *testing.T) {
	p := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{rotation("hourly", "2026-03-29", "00:00", "alice", "bob")}})
	checkShifts(t, p, []shiftCase{
		{"hour 0", "2026-03-29T00:10:00+01:00", "alice", "2026-03-29T00:00:00+01:00", "2026-03-29T01:00:00+01:00"},
		{"hour 1", "2026-03-29T01:10:00+01:00", "bob", "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"},
		{"hour 2 is 03:00 local", "2026-03-29T03:10:00+02:00", "alice", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"},
	})
	segs := p.timeline(utc("2026-03-29T00:00:00+01:00"), utc("2026-03-30T00:00:00+02:00"), nil)
	if len(segs) != 23 {
		t.Fatalf("%d hourly shifts on the spring-forward day, want 23", len(segs))
	}
}

// Custom 12h shifts keep their 09:00 and 21:00 local hand-offs, so the
// night with the change is 11 hours long.
func TestCustomTwelveHourShiftsKeepLocalHandoffs(t *testing.T) {
	p := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{rotation("12h", "2026-03-28", "09:00", "day", "night")}})
	checkShifts(t, p, []shiftCase{
		{"short night", "2026-03-29T04:00:00+02:00", "night", "2026-03-28T21:00:00+01:00", "2026-03-29T09:00:00+02:00"},
		{"next day", "2026-03-29T12:00:00+02:00", "day", "2026-03-29T09:00:00+02:00", "2026-03-29T21:00:00+02:00"},
	})
	three := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{rotation("3d", "2026-03-27", "09:00", "alice", "bob")}})
	checkShifts(t, three, []shiftCase{
		{"3d across DST", "2026-03-29T12:00:00+02:00", "alice", "2026-03-27T09:00:00+01:00", "2026-03-30T09:00:00+02:00"},
	})
}

func TestExactBoundaries(t *testing.T) {
	p := mustPlan(t, Schedule{TimeZone: "UTC", Rotations: []Rotation{rotation("daily", "2026-01-01", "09:00", "alice", "bob")}})
	handoff := utc("2026-01-02T09:00:00Z")
	if got := p.at(handoff.Add(-time.Nanosecond), nil); got[0].user != "alice" {
		t.Errorf("just before the hand-off: %v, want alice", got)
	}
	if got := p.at(handoff, nil); got[0].user != "bob" {
		t.Errorf("at the hand-off: %v, want bob (shifts are [start, end))", got)
	}
	if got := p.at(utc("2026-01-01T08:59:59Z"), nil); len(got) != 0 {
		t.Errorf("before the rotation starts: %v, want nobody", got)
	}
	res := p.onCall(handoff.Add(-time.Second), nil)
	if res.NextChange == nil || !res.NextChange.Equal(handoff) || len(res.Next) != 1 || res.Next[0].User != "bob" {
		t.Errorf("next: %v %+v, want bob at %s", res.NextChange, res.Next, handoff)
	}
}

// Later layers replace earlier ones where they have someone on call.
func TestLayers(t *testing.T) {
	weekend := rotation("weekly", "2026-01-03", "00:00", "wendy", "walt")
	weekend.Name = "weekend"
	weekend.Only = &Window{Weekdays: []string{"sat", "sun"}}
	nights := rotation("daily", "2026-01-01", "00:00", "nina")
	nights.Name = "nights"
	nights.Only = &Window{From: "22:00", To: "06:00"}
	base := rotation("weekly", "2026-01-05", "09:00", "alice", "bob")
	base.Name = "base"
	p := mustPlan(t, Schedule{TimeZone: "Europe/Berlin", Rotations: []Rotation{base, weekend, nights}})
	// base: alice from Mon 5 Jan 09:00, bob from 12 Jan, alternating weekly.
	// weekend: wendy on 3-4 Jan, walt on 10-11 Jan, alternating.
	// nights: nina every night 22:00-06:00.
	cases := []struct{ at, user, rotation string }{
		{"2026-01-01T12:00:00+01:00", "", ""},             // no layer has begun
		{"2026-01-01T22:00:00+01:00", "nina", "nights"},   // only nights
		{"2026-01-03T12:00:00+01:00", "wendy", "weekend"}, // before base begins
		{"2026-01-05T08:59:59+01:00", "", ""},             // Monday before base begins
		{"2026-01-07T12:00:00+01:00", "alice", "base"},    // Wednesday
		{"2026-01-07T23:00:00+01:00", "nina", "nights"},   // Wednesday night
		{"2026-01-08T05:59:00+01:00", "nina", "nights"},   // past midnight
		{"2026-01-08T06:00:00+01:00", "alice", "base"},    // window end
		{"2026-01-10T12:00:00+01:00", "walt", "weekend"},  // Saturday
		{"2026-01-10T23:30:00+01:00", "nina", "nights"},   // nights is the later layer
		{"2026-01-11T21:59:59+01:00", "walt", "weekend"},  // Sunday evening
		{"2026-01-12T00:00:00+01:00", "nina", "nights"},   // Sunday night into Monday
		{"2026-01-12T06:00:00+01:00", "alice", "base"},    // Monday until the hand-off
		{"2026-01-12T09:00:00+01:00", "bob", "base"},      // hand-off
		{"2026-01-17T12:00:00+01:00", "wendy", "weekend"}, // next weekend
		{"2026-03-29T05:00:00+02:00", "nina", "nights"},   // the short DST night
		{"2026-03-29T06:00:00+02:00", "wendy", "weekend"}, // DST Sunday morning
		{"2026-03-30T05:59:00+02:00", "nina", "nights"},   // nights end at 06:00 local
		{"2026-03-30T06:00:00+02:00", "bob", "base"},      // week 12 is bob's
		{"2026-03-30T09:00:00+02:00", "alice", "base"},    // hand-off at 09:00 local after DST
	}
	for _, c := range cases {
		got := p.at(utc(c.at), nil)
		switch {
		case c.user == "" && len(got) != 0:
			t.Errorf("at %s: %v, want nobody", c.at, got)
		case c.user != "" && (len(got) != 1 || got[0].user != c.user || got[0].rotation != c.rotation):
			t.Errorf("at %s: %v, want %s from %s", c.at, got, c.user, c.rotation)
		}
	}
}

// A person who follows themselves still has shifts as the hand-offs cut
// them, not one endless stretch.
func TestOnePersonRotationKeepsItsShifts(t *testing.T) {
	p := mustPlan(t, Schedule{TimeZone: "UTC", Rotations: []Rotation{rotation("daily", "2026-01-01", "09:00", "nina")}})
	checkShifts(t, p, []shiftCase{
		{"one shift", "2026-01-10T12:00:00Z", "nina", "2026-01-10T09:00:00Z", "2026-01-11T09:00:00Z"},
	})
	res := p.onCall(utc("2026-01-10T12:00:00Z"), nil)
	if res.NextChange == nil || !res.NextChange.Equal(utc("2026-01-11T09:00:00Z")) || len(res.Next) != 1 || res.Next[0].User != "nina" {
		t.Fatalf("next = %v %+v, want nina's next shift from 2026-01-11T09:00", res.NextChange, res.Next)
	}
}
