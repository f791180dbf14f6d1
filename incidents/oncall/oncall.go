// Package oncall owns who gets paged: users and their contact methods,
// on-call schedules (rotations in layers, temporary overrides) and
// escalation policies. It answers "who is on call at T" and renders each
// person's shifts as an iCalendar feed.
//
// Objects come from two places: the configuration file (kept in git,
// read-only through the API, Source "config") and the API (stored in the
// database, Source "api"). A name defined in both is an error, so that no
// reader has to guess which definition is in force.
//
// Escalating an incident is not done here: Snapshot hands the policy, as it
// stands when an incident starts, to the engine that runs it.
package oncall

import (
	"errors"
	"time"

	"github.com/prometheus/common/model"
)

// Source says where an object is defined.
type Source string

// The places an object can come from.
const (
	// FromConfig objects are defined in the configuration file and are
	// read-only through the API.
	FromConfig Source = "config"
	// FromAPI objects were created through the API and live in the database.
	FromAPI Source = "api"
)

// Errors the service returns; the web layer maps them to HTTP statuses.
var (
	// ErrNotFound: no user, schedule, policy or override of that name/id.
	ErrNotFound = errors.New("not found")
	// ErrExists: creating an object whose name is taken.
	ErrExists = errors.New("already exists")
	// ErrReadOnly: changing an object that the configuration file defines.
	ErrReadOnly = errors.New("defined in the configuration file; change it there")
	// ErrInUse: deleting an object that others still reference.
	ErrInUse = errors.New("still in use")
)

// User is a person who can be on call.
type User struct {
	Name     string          `json:"name" yaml:"name"`
	FullName string          `json:"fullName,omitempty" yaml:"full_name,omitempty"`
	Contacts []ContactMethod `json:"contactMethods,omitempty" yaml:"contact_methods,omitempty"`
	Source   Source          `json:"source,omitempty" yaml:"-"`
}

// ContactKind is how a person is reached.
type ContactKind string

// The supported contact methods.
const (
	Email   ContactKind = "email"
	Slack   ContactKind = "slack"   // a Slack member id such as U024BE7LH
	Webhook ContactKind = "webhook" // an http(s) URL that takes a JSON POST
)

// ContactMethod is one way to reach a user.
type ContactMethod struct {
	Type ContactKind `json:"type" yaml:"type"`
	To   string      `json:"to" yaml:"to"`
}

// Schedule says who is on call when. Its rotations are layers: where a later
// rotation has someone on call, it replaces the earlier ones. Overrides are
// applied on top and live in the database only, because they are temporary
// even for schedules defined in the configuration file.
type Schedule struct {
	Name        string     `json:"name" yaml:"name"`
	Description string     `json:"description,omitempty" yaml:"description,omitempty"`
	TimeZone    string     `json:"timeZone" yaml:"time_zone"`
	Rotations   []Rotation `json:"rotations" yaml:"rotations"`
	Source      Source     `json:"source,omitempty" yaml:"-"`
}

// Shift lengths with a name; anything else is a custom duration such as
// "12h" or "3d".
const (
	Hourly = "hourly"
	Daily  = "daily"
	Weekly = "weekly"
)

// Rotation hands the pager from one participant to the next every shift.
//
// Shift boundaries are wall-clock times in the schedule's zone: a daily
// 09:00 hand-off stays at 09:00 local across DST, so the shift that
// contains the change is 23 or 25 hours long. Hourly shifts are the
// exception: they are real hours, because local hours repeat or vanish on
// DST days.
type Rotation struct {
	Name         string   `json:"name,omitempty" yaml:"name,omitempty"`
	Participants []string `json:"participants" yaml:"participants"`
	// Shift is hourly, daily, weekly or a duration (12h, 3d, 2w).
	Shift string `json:"shift" yaml:"shift"`
	// Start is the local date (YYYY-MM-DD) of the first shift, which the
	// first participant takes. Before it the rotation has nobody on call.
	Start string `json:"start" yaml:"start"`
	// Handoff is the local time of day (HH:MM) shifts change, default 00:00.
	Handoff string `json:"handoff,omitempty" yaml:"handoff,omitempty"`
	// Only, when set, limits the rotation to some days and hours, so that a
	// later layer can cover e.g. weekends or office hours only.
	Only *Window `json:"only,omitempty" yaml:"only,omitempty"`
}

// Window is a recurring local time window: the listed weekdays (all when
// empty) from From to To (HH:MM). A To at or before From runs past
// midnight into the next day.
type Window struct {
	Weekdays []string `json:"weekdays,omitempty" yaml:"weekdays,omitempty"`
	From     string   `json:"from,omitempty" yaml:"from,omitempty"`
	To       string   `json:"to,omitempty" yaml:"to,omitempty"`
}

// Override changes a schedule for a window of time. Add alone puts someone
// on call in addition; Remove alone takes someone off; both replace Remove
// by Add wherever Remove would have been on call.
type Override struct {
	ID       int64     `json:"id"`
	Schedule string    `json:"schedule"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Add      string    `json:"add,omitempty"`
	Remove   string    `json:"remove,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// Kind names what the override does: add, remove or replace.
func (o Override) Kind() string {
	switch {
	case o.Add != "" && o.Remove != "":
		return "replace"
	case o.Add != "":
		return "add"
	default:
		return "remove"
	}
}

// Policy is an escalation policy: its steps are tried in order, each waiting
// Delay for an acknowledgement before the next; after the last step the
// whole list runs again Repeat more times.
type Policy struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	Repeat      int    `json:"repeat,omitempty" yaml:"repeat,omitempty"`
	Steps       []Step `json:"steps" yaml:"steps"`
	Source      Source `json:"source,omitempty" yaml:"-"`
}

// Step notifies all its targets at once.
type Step struct {
	Targets []Target `json:"targets" yaml:"targets"`
	// Delay is how long the step waits for an acknowledgement before the
	// next step (or the next repetition) starts.
	Delay model.Duration `json:"delay" yaml:"delay"`
}

// Target is exactly one of a user, a schedule (whoever is on call when the
// step runs) or an Alertmanager receiver.
type Target struct {
	User     string `json:"user,omitempty" yaml:"user,omitempty"`
	Schedule string `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	Receiver string `json:"receiver,omitempty" yaml:"receiver,omitempty"`
}

// Config is the on-call part of the configuration file, validated.
type Config struct {
	Users     []User     `json:"users,omitempty"`
	Schedules []Schedule `json:"schedules,omitempty"`
	Policies  []Policy   `json:"escalationPolicies,omitempty"`
	// Receivers are the names of the Alertmanager receivers, which policy
	// steps may target.
	Receivers []string `json:"-"`
}
