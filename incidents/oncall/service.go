package oncall

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jonboulle/clockwork"

	"github.com/klaxon-dev/klaxon/storage"
)

// Options are the service's collaborators.
type Options struct {
	DB     *storage.DB
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Service owns users, schedules, overrides and escalation policies: the
// read-only ones from the configuration file and the ones in the database.
// Database objects are read on every call, so replicas sharing a database
// agree without caches to invalidate.
type Service struct {
	db     *storage.DB
	clock  clockwork.Clock
	logger *slog.Logger
	w      atomic.Pointer[world]
}

// world is the configuration file's on-call objects, indexed by name.
type world struct {
	users     map[string]*User
	schedules map[string]*Schedule
	policies  map[string]*Policy
	receivers map[string]bool
}

func newWorld(c *Config) *world {
	w := &world{users: map[string]*User{}, schedules: map[string]*Schedule{}, policies: map[string]*Policy{}, receivers: map[string]bool{}}
	if c == nil {
		return w
	}
	for i := range c.Users {
		w.users[c.Users[i].Name] = &c.Users[i]
	}
	for i := range c.Schedules {
		w.schedules[c.Schedules[i].Name] = &c.Schedules[i]
	}
	for i := range c.Policies {
		w.policies[c.Policies[i].Name] = &c.Policies[i]
	}
	for _, r := range c.Receivers {
		w.receivers[r] = true
	}
	return w
}

// New returns a service with no configuration-file objects; ApplyConfig
// installs them.
func New(opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: opts.DB, clock: opts.Clock, logger: opts.Logger}
	s.w.Store(newWorld(nil))
	return s
}

func (s *Service) world() *world { return s.w.Load() }

// ApplyConfig installs the configuration file's on-call objects, which
// config.Load has validated among themselves. It fails, keeping the
// running ones, if a name is also defined through the API or if an
// API-defined object would refer to something the new file drops.
func (s *Service) ApplyConfig(ctx context.Context, c *Config) error {
	nw := newWorld(c)
	if err := s.checkDB(ctx, nw); err != nil {
		return fmt.Errorf("on-call configuration: %w", err)
	}
	s.w.Store(nw)
	return nil
}

func (s *Service) checkDB(ctx context.Context, nw *world) error {
	clash := func(t table, kind, path string, cfg func(string) bool) error {
		names, err := t.names(ctx, s.db)
		if err != nil {
			return err
		}
		for n := range names {
			if cfg(n) {
				return fmt.Errorf("%s %q is defined both in the configuration file and through the API; delete it through the API (DELETE /api/v1/%s/%s) or rename one", kind, n, path, n)
			}
		}
		return nil
	}
	if err := clash(usersTable, "user", "users", func(n string) bool { return nw.users[n] != nil }); err != nil {
		return err
	}
	if err := clash(schedulesTable, "schedule", "schedules", func(n string) bool { return nw.schedules[n] != nil }); err != nil {
		return err
	}
	if err := clash(policiesTable, "escalation policy", "escalation-policies", func(n string) bool { return nw.policies[n] != nil }); err != nil {
		return err
	}
	r, err := refsOf(ctx, s.db, nw)
	if err != nil {
		return err
	}
	scheds, err := dbSchedules(ctx, s.db)
	if err != nil {
		return err
	}
	for i := range scheds {
		if err := validateSchedule(&scheds[i], r); err != nil {
			return fmt.Errorf("%w (defined through the API)", err)
		}
	}
	pols, err := dbPolicies(ctx, s.db)
	if err != nil {
		return err
	}
	for i := range pols {
		if err := validatePolicy(&pols[i], r); err != nil {
			return fmt.Errorf("%w (defined through the API)", err)
		}
	}
	return nil
}

// refsOf collects the names API objects may refer to: those of the file
// and those in the database.
func refsOf(ctx context.Context, q storage.Querier, w *world) (refs, error) {
	r := refs{receivers: w.receivers}
	var err error
	if r.users, err = usersTable.names(ctx, q); err != nil {
		return r, err
	}
	if r.schedules, err = schedulesTable.names(ctx, q); err != nil {
		return r, err
	}
	for n := range w.users {
		r.users[n] = true
	}
	for n := range w.schedules {
		r.schedules[n] = true
	}
	return r, nil
}

func decodeAll[T any](ctx context.Context, q storage.Querier, t table, fix func(*T)) ([]T, error) {
	var out []T
	err := t.list(ctx, q, func(body []byte) error {
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("decode %s: %w", t, err)
		}
		fix(&v)
		out = append(out, v)
		return nil
	})
	return out, err
}

func dbUsers(ctx context.Context, q storage.Querier) ([]User, error) {
	return decodeAll(ctx, q, usersTable, func(u *User) { u.Source = FromAPI })
}

func dbSchedules(ctx context.Context, q storage.Querier) ([]Schedule, error) {
	return decodeAll(ctx, q, schedulesTable, func(s *Schedule) { s.Source = FromAPI })
}

func dbPolicies(ctx context.Context, q storage.Querier) ([]Policy, error) {
	return decodeAll(ctx, q, policiesTable, func(p *Policy) { p.Source = FromAPI })
}

// merged lists the file's objects and the database's, by name.
func merged[T any](cfg map[string]*T, db []T, name func(*T) string) []T {
	out := make([]T, 0, len(cfg)+len(db))
	for _, v := range cfg {
		out = append(out, *v)
	}
	out = append(out, db...)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(name(&a), name(&b)) })
	return out
}

// lookup finds a named object in the file or, failing that, the database.
func lookup[T any](ctx context.Context, q storage.Querier, kind string, t table, cfg map[string]*T, name string, setSource func(*T)) (*T, error) {
	if v, ok := cfg[name]; ok {
		c := *v
		return &c, nil
	}
	var v T
	if err := t.get(ctx, q, name, &v); err != nil {
		return nil, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	setSource(&v)
	return &v, nil
}

// Users lists every user.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	db, err := dbUsers(ctx, s.db)
	return merged(s.world().users, db, func(u *User) string { return u.Name }), err
}

// User returns one user.
func (s *Service) User(ctx context.Context, name string) (*User, error) {
	return lookup(ctx, s.db, "user", usersTable, s.world().users, name, func(u *User) { u.Source = FromAPI })
}

// PutUser creates (create set) or creates-or-replaces a user in the
// database.
func (s *Service) PutUser(ctx context.Context, u User, create bool) (*User, error) {
	if _, ok := s.world().users[u.Name]; ok {
		return nil, fmt.Errorf("user %q: %w", u.Name, ErrReadOnly)
	}
	u.Source = FromAPI
	if err := ValidateUser(&u); err != nil {
		return nil, err
	}
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		return usersTable.put(ctx, tx, u.Name, u, s.clock.Now(), create)
	})
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", u.Name, err)
	}
	return &u, nil
}

// DeleteUser deletes a database user no schedule, policy or pending
// override refers to.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	if _, ok := s.world().users[name]; ok {
		return fmt.Errorf("user %q: %w", name, ErrReadOnly)
	}
	return s.db.InTx(ctx, func(tx *storage.Tx) error {
		inUse := func(what string) error { return fmt.Errorf("user %q: %w by %s", name, ErrInUse, what) }
		scheds, err := dbSchedules(ctx, tx)
		if err != nil {
			return err
		}
		for _, sc := range scheds {
			for _, r := range sc.Rotations {
				if slices.Contains(r.Participants, name) {
					return inUse(fmt.Sprintf("schedule %q", sc.Name))
				}
			}
		}
		pols, err := dbPolicies(ctx, tx)
		if err != nil {
			return err
		}
		for _, p := range pols {
			if policyTargets(&p, func(t Target) bool { return t.User == name }) {
				return inUse(fmt.Sprintf("escalation policy %q", p.Name))
			}
		}
		ovs, err := overridesNaming(ctx, tx, name, s.clock.Now())
		if err != nil {
			return err
		}
		if len(ovs) > 0 {
			return inUse(fmt.Sprintf("override %d of schedule %q", ovs[0].ID, ovs[0].Schedule))
		}
		if err := usersTable.delete(ctx, tx, name); err != nil {
			return fmt.Errorf("user %q: %w", name, err)
		}
		return nil
	})
}

func policyTargets(p *Policy, match func(Target) bool) bool {
	for _, st := range p.Steps {
		if slices.ContainsFunc(st.Targets, match) {
			return true
		}
	}
	return false
}

// Schedules lists every schedule.
func (s *Service) Schedules(ctx context.Context) ([]Schedule, error) {
	db, err := dbSchedules(ctx, s.db)
	return merged(s.world().schedules, db, func(v *Schedule) string { return v.Name }), err
}

// Schedule returns one schedule.
func (s *Service) Schedule(ctx context.Context, name string) (*Schedule, error) {
	return s.schedule(ctx, s.db, name)
}

func (s *Service) schedule(ctx context.Context, q storage.Querier, name string) (*Schedule, error) {
	return lookup(ctx, q, "schedule", schedulesTable, s.world().schedules, name, func(v *Schedule) { v.Source = FromAPI })
}

// PutSchedule creates (create set) or creates-or-replaces a schedule in
// the database. Its participants must be known users.
func (s *Service) PutSchedule(ctx context.Context, sc Schedule, create bool) (*Schedule, error) {
	if _, ok := s.world().schedules[sc.Name]; ok {
		return nil, fmt.Errorf("schedule %q: %w", sc.Name, ErrReadOnly)
	}
	sc.Source = FromAPI
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		r, err := refsOf(ctx, tx, s.world())
		if err != nil {
			return err
		}
		if err := validateSchedule(&sc, r); err != nil {
			return err
		}
		if err := schedulesTable.put(ctx, tx, sc.Name, sc, s.clock.Now(), create); err != nil {
			return fmt.Errorf("schedule %q: %w", sc.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sc, nil
}

// DeleteSchedule deletes a database schedule that no policy targets, with
// its overrides.
func (s *Service) DeleteSchedule(ctx context.Context, name string) error {
	if _, ok := s.world().schedules[name]; ok {
		return fmt.Errorf("schedule %q: %w", name, ErrReadOnly)
	}
	return s.db.InTx(ctx, func(tx *storage.Tx) error {
		pols, err := dbPolicies(ctx, tx)
		if err != nil {
			return err
		}
		for _, p := range pols {
			if policyTargets(&p, func(t Target) bool { return t.Schedule == name }) {
				return fmt.Errorf("schedule %q: %w by escalation policy %q", name, ErrInUse, p.Name)
			}
		}
		if err := schedulesTable.delete(ctx, tx, name); err != nil {
			return fmt.Errorf("schedule %q: %w", name, err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM oncall_overrides WHERE schedule = ?`, name)
		return err
	})
}

// Policies lists every escalation policy.
func (s *Service) Policies(ctx context.Context) ([]Policy, error) {
	db, err := dbPolicies(ctx, s.db)
	return merged(s.world().policies, db, func(v *Policy) string { return v.Name }), err
}

// Policy returns one escalation policy.
func (s *Service) Policy(ctx context.Context, name string) (*Policy, error) {
	return lookup(ctx, s.db, "escalation policy", policiesTable, s.world().policies, name, func(v *Policy) { v.Source = FromAPI })
}

// PutPolicy creates (create set) or creates-or-replaces an escalation
// policy in the database. Its targets must exist.
func (s *Service) PutPolicy(ctx context.Context, p Policy, create bool) (*Policy, error) {
	if _, ok := s.world().policies[p.Name]; ok {
		return nil, fmt.Errorf("escalation policy %q: %w", p.Name, ErrReadOnly)
	}
	p.Source = FromAPI
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		r, err := refsOf(ctx, tx, s.world())
		if err != nil {
			return err
		}
		if err := validatePolicy(&p, r); err != nil {
			return err
		}
		if err := policiesTable.put(ctx, tx, p.Name, p, s.clock.Now(), create); err != nil {
			return fmt.Errorf("escalation policy %q: %w", p.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// DeletePolicy deletes a database escalation policy. Incidents that
// already started keep their snapshot of it.
func (s *Service) DeletePolicy(ctx context.Context, name string) error {
	if _, ok := s.world().policies[name]; ok {
		return fmt.Errorf("escalation policy %q: %w", name, ErrReadOnly)
	}
	if err := policiesTable.delete(ctx, s.db, name); err != nil {
		return fmt.Errorf("escalation policy %q: %w", name, err)
	}
	return nil
}
