package oncall

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// ValidationError says which object and which field of it is wrong. Field
// is relative to the object ("rotations[0].participants"), so that the API
// can report it against a request body and the configuration loader can
// turn Path plus Field into a line of the file.
type ValidationError struct {
	Kind  string // user, schedule, escalation policy, override
	Name  string
	Field string
	Msg   string
	// Path locates the object in the configuration file, e.g.
	// "schedules[2]"; empty for API bodies.
	Path string
}

func (e *ValidationError) Error() string {
	who := e.Kind
	if e.Name != "" {
		who += fmt.Sprintf(" %q", e.Name)
	}
	if e.Field == "" {
		return who + ": " + e.Msg
	}
	return who + ": " + e.Field + ": " + e.Msg
}

// refs are the names an object may refer to.
type refs struct {
	users, schedules, receivers map[string]bool
}

// namePattern keeps names usable in URLs, iCalendar UIDs and file names.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`)

func checkName(kind, name string) *ValidationError {
	if name == "" {
		return &ValidationError{Kind: kind, Field: "name", Msg: "is required"}
	}
	if !namePattern.MatchString(name) {
		return &ValidationError{Kind: kind, Name: name, Field: "name",
			Msg: "use letters, digits, '.', '_', '-' or '@', starting with a letter or digit (at most 128)"}
	}
	return nil
}

var slackID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// ValidateUser checks a user's name and contact methods.
func ValidateUser(u *User) error {
	if err := checkName("user", u.Name); err != nil {
		return err
	}
	bad := func(i int, field, msg string) error {
		return &ValidationError{Kind: "user", Name: u.Name, Field: fmt.Sprintf("contact_methods[%d].%s", i, field), Msg: msg}
	}
	for i, c := range u.Contacts {
		if c.To == "" {
			return bad(i, "to", "is required")
		}
		switch c.Type {
		case Email:
			if a, err := mail.ParseAddress(c.To); err != nil || a.Address != c.To {
				return bad(i, "to", fmt.Sprintf("%q is not an email address", c.To))
			}
		case Slack:
			if !slackID.MatchString(c.To) {
				return bad(i, "to", fmt.Sprintf("%q is not a Slack member id (like U024BE7LH)", c.To))
			}
		case Webhook:
			if p, err := url.Parse(c.To); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return bad(i, "to", fmt.Sprintf("%q is not an http(s) URL", c.To))
			}
		default:
			return bad(i, "type", fmt.Sprintf("unknown contact method %q (want email, slack or webhook)", c.Type))
		}
	}
	return nil
}

// validateSchedule fills in defaults and checks s against the names it may
// refer to.
func validateSchedule(s *Schedule, r refs) error {
	if err := checkName("schedule", s.Name); err != nil {
		return err
	}
	if _, err := compile(s); err != nil {
		return err
	}
	for i, rot := range s.Rotations {
		for j, p := range rot.Participants {
			if !r.users[p] {
				return &ValidationError{Kind: "schedule", Name: s.Name,
					Field: fmt.Sprintf("rotations[%d].participants[%d]", i, j), Msg: fmt.Sprintf("unknown user %q", p)}
			}
		}
	}
	return nil
}

// maxRepeat bounds how often a policy runs through its steps; a policy
// that pages forever is an outage of its own.
const maxRepeat = 20

func validatePolicy(p *Policy, r refs) error {
	if err := checkName("escalation policy", p.Name); err != nil {
		return err
	}
	bad := func(field, msg string) error {
		return &ValidationError{Kind: "escalation policy", Name: p.Name, Field: field, Msg: msg}
	}
	if p.Repeat < 0 || p.Repeat > maxRepeat {
		return bad("repeat", fmt.Sprintf("want 0 to %d, got %d", maxRepeat, p.Repeat))
	}
	if len(p.Steps) == 0 {
		return bad("steps", "a policy needs at least one step")
	}
	for i, st := range p.Steps {
		if st.Delay <= 0 {
			return bad(fmt.Sprintf("steps[%d].delay", i), "must be a positive duration such as 5m")
		}
		if len(st.Targets) == 0 {
			return bad(fmt.Sprintf("steps[%d].targets", i), "a step needs at least one target")
		}
		for j, t := range st.Targets {
			field := fmt.Sprintf("steps[%d].targets[%d]", i, j)
			n := 0
			for _, s := range []string{t.User, t.Schedule, t.Receiver} {
				if s != "" {
					n++
				}
			}
			switch {
			case n != 1:
				return bad(field, "set exactly one of user, schedule and receiver")
			case t.User != "" && !r.users[t.User]:
				return bad(field+".user", fmt.Sprintf("unknown user %q", t.User))
			case t.Schedule != "" && !r.schedules[t.Schedule]:
				return bad(field+".schedule", fmt.Sprintf("unknown schedule %q", t.Schedule))
			case t.Receiver != "" && !r.receivers[t.Receiver]:
				return bad(field+".receiver", fmt.Sprintf("unknown receiver %q", t.Receiver))
			}
		}
	}
	return nil
}

// validateOverride checks one override on its own; overlaps with others are
// checked by the store, which sees them all.
func validateOverride(o *Override, users map[string]bool) error {
	bad := func(field, msg string) error {
		return &ValidationError{Kind: "override", Name: o.Schedule, Field: field, Msg: msg}
	}
	switch {
	case o.Start.IsZero():
		return bad("start", "is required (RFC 3339, e.g. 2026-12-24T18:00:00+01:00)")
	case o.End.IsZero():
		return bad("end", "is required (RFC 3339, e.g. 2026-12-27T09:00:00+01:00)")
	case !o.End.After(o.Start):
		return bad("end", fmt.Sprintf("%s is not after start %s", o.End.Format(time.RFC3339), o.Start.Format(time.RFC3339)))
	case o.Add == "" && o.Remove == "":
		return bad("add", "set add, remove or both (replace)")
	case o.Add == o.Remove:
		return bad("add", "add and remove name the same user")
	case o.Add != "" && !users[o.Add]:
		return bad("add", fmt.Sprintf("unknown user %q", o.Add))
	case o.Remove != "" && !users[o.Remove]:
		return bad("remove", fmt.Sprintf("unknown user %q", o.Remove))
	}
	return nil
}

// overlap reports an existing override that o conflicts with: one whose
// window overlaps o's and that concerns one of the same people. Two such
// overrides would leave it to their order who is on call.
func overlap(o *Override, existing []Override) error {
	people := func(x *Override) []string { return []string{x.Add, x.Remove} }
	for _, e := range existing {
		if e.ID == o.ID || !e.Start.Before(o.End) || !o.Start.Before(e.End) {
			continue
		}
		for _, p := range people(o) {
			if p != "" && slices.Contains(people(&e), p) {
				return &ValidationError{Kind: "override", Name: o.Schedule, Field: "start",
					Msg: fmt.Sprintf("window overlaps override %d (%s to %s) for user %q", e.ID,
						e.Start.Format(time.RFC3339), e.End.Format(time.RFC3339), p)}
			}
		}
	}
	return nil
}

// ValidateConfig checks the on-call objects of a configuration file among
// themselves: they may refer only to each other and to c.Receivers, since
// the file must make sense without the database. Errors carry Path.
func ValidateConfig(c *Config) error {
	r := refs{users: map[string]bool{}, schedules: map[string]bool{}, receivers: map[string]bool{}}
	for _, n := range c.Receivers {
		r.receivers[n] = true
	}
	dup := func(kind, key string, i int, name string) error {
		return &ValidationError{Kind: kind, Name: name, Field: "name", Msg: "defined more than once", Path: fmt.Sprintf("%s[%d]", key, i)}
	}
	at := func(err error, key string, i int) error {
		if ve, ok := err.(*ValidationError); ok {
			ve.Path = fmt.Sprintf("%s[%d]", key, i)
		}
		return err
	}
	for i := range c.Users {
		u := &c.Users[i]
		u.Source = FromConfig
		if err := ValidateUser(u); err != nil {
			return at(err, "users", i)
		}
		if r.users[u.Name] {
			return dup("user", "users", i, u.Name)
		}
		r.users[u.Name] = true
	}
	for i := range c.Schedules {
		s := &c.Schedules[i]
		s.Source = FromConfig
		if err := validateSchedule(s, r); err != nil {
			return at(err, "schedules", i)
		}
		if r.schedules[s.Name] {
			return dup("schedule", "schedules", i, s.Name)
		}
		r.schedules[s.Name] = true
	}
	seen := map[string]bool{}
	for i := range c.Policies {
		p := &c.Policies[i]
		p.Source = FromConfig
		if err := validatePolicy(p, r); err != nil {
			return at(err, "escalation_policies", i)
		}
		if seen[p.Name] {
			return dup("escalation policy", "escalation_policies", i, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}
