package oncall

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// fileConfig is what a configuration file with alice, bob and a weekly
// "primary" schedule gives the service.
func fileConfig(t *testing.T, extraUsers ...string) *Config {
	t.Helper()
	c := &Config{
		Users: []User{{Name: "alice", Contacts: []ContactMethod{{Type: Email, To: "alice@example.com"}}}, {Name: "bob"}},
		Schedules: []Schedule{{Name: "primary", TimeZone: "Europe/Berlin", Rotations: []Rotation{
			{Name: "weekly", Participants: []string{"alice", "bob"}, Shift: Weekly, Start: "2026-01-05", Handoff: "09:00"},
		}}},
		Receivers: []string{"team"},
	}
	for _, u := range extraUsers {
		c.Users = append(c.Users, User{Name: u})
	}
	if err := ValidateConfig(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func newService(t *testing.T, db *storage.DB) (*Service, *clockwork.FakeClock) {
	t.Helper()
	clk := clockwork.NewFakeClockAt(utc("2026-01-06T12:00:00Z"))
	s := New(Options{DB: db, Clock: clk})
	if err := s.ApplyConfig(context.Background(), fileConfig(t)); err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func wantErr(t *testing.T, err, target error, contains string) {
	t.Helper()
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
	if err == nil || !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %v does not contain %q", err, contains)
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	ve, ok := err.(*ValidationError)
	if !ok || ve.Field != field {
		t.Fatalf("error %v (%T), want a validation error on %s", err, err, field)
	}
}

// TestStore runs the service's stories, in order, on both backends: each
// step builds on what the earlier ones stored.
func TestStore(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		s, _ := newService(t, db)
		steps := []struct {
			name string
			fn   func(*testing.T, context.Context, *Service)
		}{
			{"config objects are read-only", storeConfigObjectsAreReadOnly},
			{"API objects live in the database", storeAPIObjectsLiveInTheDatabase},
			{"bad bodies name the field", storeBadBodiesNameTheField},
			{"overrides of a config schedule", storeOverridesOfAConfigSchedule},
			{"references keep objects alive", storeReferencesKeepObjectsAlive},
			{"snapshot", storeSnapshot},
			{"user shifts across schedules", storeUserShiftsAcrossSchedules},
			{"config and API names may not clash", storeConfigAndAPINamesMayNotClash},
		}
		for _, st := range steps {
			if !t.Run(st.name, func(t *testing.T) { st.fn(t, context.Background(), s) }) {
				return
			}
		}
	})
}

func storeConfigObjectsAreReadOnly(t *testing.T, ctx context.Context, s *Service) {
	_, err := s.PutUser(ctx, User{Name: "alice"}, false)
	wantErr(t, err, ErrReadOnly, `user "alice"`)
	_, err = s.PutSchedule(ctx, Schedule{Name: "primary"}, false)
	wantErr(t, err, ErrReadOnly, `schedule "primary"`)
	wantErr(t, s.DeleteSchedule(ctx, "primary"), ErrReadOnly, "primary")
}

func storeAPIObjectsLiveInTheDatabase(t *testing.T, ctx context.Context, s *Service) {
	if _, err := s.PutUser(ctx, User{Name: "carol", Contacts: []ContactMethod{{Type: Slack, To: "U0CAROL"}}}, true); err != nil {
		t.Fatal(err)
	}
	_, err := s.PutUser(ctx, User{Name: "carol"}, true)
	wantErr(t, err, ErrExists, "carol")
	sc := Schedule{Name: "secondary", TimeZone: "America/New_York", Rotations: []Rotation{
		{Participants: []string{"carol", "alice"}, Shift: Daily, Start: "2026-01-01", Handoff: "10:00"}}}
	if _, err := s.PutSchedule(ctx, sc, true); err != nil {
		t.Fatal(err)
	}
	got, err := s.Schedule(ctx, "secondary")
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != FromAPI || got.Rotations[0].Name != "rotation-1" || got.Rotations[0].Participants[0] != "carol" {
		t.Fatalf("schedule read back as %+v", got)
	}
	list, err := s.Schedules(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "primary" || list[0].Source != FromConfig || list[1].Source != FromAPI {
		t.Fatalf("schedules = %+v, %v", list, err)
	}
}

func storeBadBodiesNameTheField(t *testing.T, ctx context.Context, s *Service) {
	_, err := s.PutSchedule(ctx, Schedule{Name: "empty", Rotations: []Rotation{{Shift: Daily, Start: "2026-01-01"}}}, true)
	wantField(t, err, "rotations[0].participants")
	_, err = s.PutSchedule(ctx, Schedule{Name: "tz", TimeZone: "Mars/Olympus", Rotations: []Rotation{{Participants: []string{"bob"}, Shift: Daily, Start: "2026-01-01"}}}, true)
	wantField(t, err, "time_zone")
	_, err = s.PutSchedule(ctx, Schedule{Name: "who", Rotations: []Rotation{{Participants: []string{"zed"}, Shift: Daily, Start: "2026-01-01"}}}, true)
	wantErr(t, err, nil, `unknown user "zed"`)
	_, err = s.PutPolicy(ctx, Policy{Name: "p", Steps: []Step{{Delay: model.Duration(time.Minute), Targets: []Target{{Receiver: "nope"}}}}}, true)
	wantErr(t, err, nil, `unknown receiver "nope"`)
	if _, err := s.Schedule(ctx, "empty"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rejected schedule was stored: %v", err)
	}
}

func storeOverridesOfAConfigSchedule(t *testing.T, ctx context.Context, s *Service) {
	// alice has the week of 5 January.
	o, err := s.AddOverride(ctx, Override{Schedule: "primary", Start: utc("2026-01-06T18:00:00Z"), End: utc("2026-01-07T06:00:00Z"), Add: "carol", Remove: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.OnCall(ctx, "primary", utc("2026-01-06T20:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.OnCall) != 1 || res.OnCall[0].User != "carol" || res.OnCall[0].OverrideID != o.ID || res.Next[0].User != "alice" {
		t.Fatalf("on call %+v next %+v", res.OnCall, res.Next)
	}
	_, err = s.AddOverride(ctx, Override{Schedule: "primary", Start: utc("2026-01-07T00:00:00Z"), End: utc("2026-01-08T00:00:00Z"), Remove: "alice"})
	wantField(t, err, "start")
	_, err = s.AddOverride(ctx, Override{Schedule: "primary", Start: utc("2026-01-08T00:00:00Z"), End: utc("2026-01-07T00:00:00Z"), Add: "bob"})
	wantField(t, err, "end")
	_, err = s.AddOverride(ctx, Override{Schedule: "nope", Start: utc("2026-01-07T00:00:00Z"), End: utc("2026-01-08T00:00:00Z"), Add: "bob"})
	wantErr(t, err, ErrNotFound, `schedule "nope"`)
	list, err := s.Overrides(ctx, "primary", utc("2026-01-01T00:00:00Z"), time.Time{})
	if err != nil || len(list) != 1 || list[0] != *o {
		t.Fatalf("overrides = %+v, %v; want %+v", list, err, *o)
	}
	if err := s.DeleteOverride(ctx, "primary", o.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteOverride(ctx, "primary", o.ID), ErrNotFound, "override")

	// A user a pending override names cannot be deleted.
	if _, err := s.PutUser(ctx, User{Name: "dave"}, true); err != nil {
		t.Fatal(err)
	}
	o, err = s.AddOverride(ctx, Override{Schedule: "primary", Start: utc("2026-02-01T00:00:00Z"), End: utc("2026-02-02T00:00:00Z"), Add: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteUser(ctx, "dave"), ErrInUse, "override")
	if err := s.DeleteOverride(ctx, "primary", o.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
}

func storeReferencesKeepObjectsAlive(t *testing.T, ctx context.Context, s *Service) {
	p := Policy{Name: "db", Repeat: 1, Steps: []Step{
		{Delay: model.Duration(5 * time.Minute), Targets: []Target{{Schedule: "secondary"}}},
		{Delay: model.Duration(10 * time.Minute), Targets: []Target{{User: "carol"}, {Receiver: "team"}}},
	}}
	if _, err := s.PutPolicy(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteSchedule(ctx, "secondary"), ErrInUse, `escalation policy "db"`)
	wantErr(t, s.DeleteUser(ctx, "carol"), ErrInUse, `schedule "secondary"`)
}

func storeSnapshot(t *testing.T, ctx context.Context, s *Service) {
	snap, err := s.Snapshot(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Users["carol"].Contacts[0].To != "U0CAROL" || !snap.TakenAt.Equal(utc("2026-01-06T12:00:00Z")) {
		t.Fatalf("snapshot = %+v", snap)
	}
	// Editing the policy afterwards leaves the snapshot alone.
	p, _ := s.Policy(ctx, "db")
	p.Steps[0].Targets[0] = Target{User: "bob"}
	if _, err := s.PutPolicy(ctx, *p, false); err != nil {
		t.Fatal(err)
	}
	if snap.Policy.Steps[0].Targets[0].Schedule != "secondary" {
		t.Fatal("snapshot changed with the policy")
	}
	var order []string
	for n := 0; ; n++ {
		st, ok := snap.Step(n)
		if !ok {
			break
		}
		order = append(order, st.Delay.String())
	}
	if strings.Join(order, ",") != "5m,10m,5m,10m" {
		t.Fatalf("steps with one repeat: %v", order)
	}
}

func storeUserShiftsAcrossSchedules(t *testing.T, ctx context.Context, s *Service) {
	list, err := s.UserShifts(ctx, "alice", utc("2026-01-05T00:00:00Z"), utc("2026-01-08T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sh := range list {
		got = append(got, sh.Schedule+"@"+sh.Start.Format("02T15"))
	}
	// secondary: carol on odd days from 1 January (New York 10:00 = 15:00 UTC).
	want := "secondary@04T15,primary@05T08,secondary@06T15"
	if strings.Join(got, ",") != want {
		t.Fatalf("alice's shifts = %v, want %s", got, want)
	}
	_, err = s.UserShifts(ctx, "zed", utc("2026-01-05T00:00:00Z"), utc("2026-01-08T00:00:00Z"))
	wantErr(t, err, ErrNotFound, `user "zed"`)
}

func storeConfigAndAPINamesMayNotClash(t *testing.T, ctx context.Context, s *Service) {
	err := s.ApplyConfig(ctx, fileConfig(t, "carol"))
	wantErr(t, err, nil, `user "carol" is defined both in the configuration file and through the API`)
	if u, err := s.User(ctx, "carol"); err != nil || u.Source != FromAPI {
		t.Fatalf("after the failed apply carol = %+v, %v", u, err)
	}
	// A file that drops a user an API schedule needs is refused too.
	c := fileConfig(t)
	c.Users = c.Users[1:]
	c.Schedules = nil
	err = s.ApplyConfig(ctx, c)
	wantErr(t, err, nil, `unknown user "alice"`)
}
