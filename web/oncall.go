package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
)

// OnCall is what the API needs of the on-call service (oncall.Service).
type OnCall interface {
	Users(ctx context.Context) ([]oncall.User, error)
	User(ctx context.Context, name string) (*oncall.User, error)
	PutUser(ctx context.Context, u oncall.User, create bool) (*oncall.User, error)
	DeleteUser(ctx context.Context, name string) error

	Schedules(ctx context.Context) ([]oncall.Schedule, error)
	Schedule(ctx context.Context, name string) (*oncall.Schedule, error)
	PutSchedule(ctx context.Context, s oncall.Schedule, create bool) (*oncall.Schedule, error)
	DeleteSchedule(ctx context.Context, name string) error

	Policies(ctx context.Context) ([]oncall.Policy, error)
	Policy(ctx context.Context, name string) (*oncall.Policy, error)
	PutPolicy(ctx context.Context, p oncall.Policy, create bool) (*oncall.Policy, error)
	DeletePolicy(ctx context.Context, name string) error

	Overrides(ctx context.Context, schedule string, from, to time.Time) ([]oncall.Override, error)
	AddOverride(ctx context.Context, o oncall.Override) (*oncall.Override, error)
	DeleteOverride(ctx context.Context, schedule string, id int64) error

	OnCall(ctx context.Context, schedule string, at time.Time) (*oncall.OnCall, error)
	UserShifts(ctx context.Context, user string, from, to time.Time) ([]oncall.Shift, error)
}

// icalWeeks is how far ahead the iCalendar feed looks by default; calendar
// clients re-fetch it, so a short window stays current.
const icalWeeks = 8

func (s *Server) onCallRoutes(r chi.Router) {
	r.Route("/api/v1/users", func(r chi.Router) {
		r.Get("/", onCallList(s.opts.OnCall.Users))
		r.Post("/", onCallCreate(s, s.opts.OnCall.PutUser))
		r.Get("/{name}", onCallGet(s.opts.OnCall.User))
		r.Put("/{name}", onCallUpdate(s, s.opts.OnCall.PutUser, func(u *oncall.User) *string { return &u.Name }))
		r.Delete("/{name}", onCallRemove(s.opts.OnCall.DeleteUser))
		r.Get("/{name}/shifts", s.userShifts)
		r.Get("/{name}/shifts.ics", s.userShiftsICal)
	})
	r.Route("/api/v1/schedules", func(r chi.Router) {
		r.Get("/", onCallList(s.opts.OnCall.Schedules))
		r.Post("/", onCallCreate(s, s.opts.OnCall.PutSchedule))
		r.Get("/{name}", onCallGet(s.opts.OnCall.Schedule))
		r.Put("/{name}", onCallUpdate(s, s.opts.OnCall.PutSchedule, func(v *oncall.Schedule) *string { return &v.Name }))
		r.Delete("/{name}", onCallRemove(s.opts.OnCall.DeleteSchedule))
		r.Get("/{name}/oncall", s.whoIsOnCall)
		r.Get("/{name}/overrides", s.listOverrides)
		r.Post("/{name}/overrides", s.addOverride)
		r.Delete("/{name}/overrides/{id}", s.deleteOverride)
	})
	r.Route("/api/v1/escalation-policies", func(r chi.Router) {
		r.Get("/", onCallList(s.opts.OnCall.Policies))
		r.Post("/", onCallCreate(s, s.opts.OnCall.PutPolicy))
		r.Get("/{name}", onCallGet(s.opts.OnCall.Policy))
		r.Put("/{name}", onCallUpdate(s, s.opts.OnCall.PutPolicy, func(v *oncall.Policy) *string { return &v.Name }))
		r.Delete("/{name}", onCallRemove(s.opts.OnCall.DeletePolicy))
	})
}

// onCallError answers err with the status it deserves. Validation errors
// name the field as the JSON body spells it.
func onCallError(w http.ResponseWriter, err error) {
	var ve *oncall.ValidationError
	switch {
	case errors.As(err, &ve):
		v := *ve
		v.Field = jsonField(v.Field)
		writeError(w, http.StatusBadRequest, v.Error())
	case errors.Is(err, oncall.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, oncall.ErrExists), errors.Is(err, oncall.ErrReadOnly), errors.Is(err, oncall.ErrInUse):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, statusOf(err), err.Error())
	}
}

// jsonField turns a configuration field path (time_zone, rotations[0].only)
// into the JSON body's spelling (timeZone); the on-call types' JSON names
// are their YAML names in camel case.
func jsonField(f string) string {
	parts := strings.Split(f, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// decodeOnCallBody reads a JSON body strictly: an unknown field is more
// likely a typo than something to ignore.
func (s *Server) decodeOnCallBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, "body: "+err.Error())
		return false
	}
	return true
}

func onCallList[T any](fn func(context.Context) ([]T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r.Context())
		if err != nil {
			onCallError(w, err)
			return
		}
		if v == nil {
			v = []T{}
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func onCallGet[T any](fn func(context.Context, string) (*T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r.Context(), chi.URLParam(r, "name"))
		if err != nil {
			onCallError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func onCallCreate[T any](s *Server, put func(context.Context, T, bool) (*T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var v T
		if !s.decodeOnCallBody(w, r, &v) {
			return
		}
		out, err := put(r.Context(), v, true)
		if err != nil {
			onCallError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, out)
	}
}

// onCallUpdate creates or replaces the object named in the URL; a body
// that names another is refused rather than silently renamed.
func onCallUpdate[T any](s *Server, put func(context.Context, T, bool) (*T, error), name func(*T) *string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var v T
		if !s.decodeOnCallBody(w, r, &v) {
			return
		}
		url := chi.URLParam(r, "name")
		switch n := name(&v); *n {
		case "":
			*n = url
		case url:
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("name: the body names %q but the URL %q", *n, url))
			return
		}
		out, err := put(r.Context(), v, false)
		if err != nil {
			onCallError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func onCallRemove(del func(context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := del(r.Context(), chi.URLParam(r, "name")); err != nil {
			onCallError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// onCallTimeParam reads an RFC 3339 query parameter, def when absent.
func onCallTimeParam(w http.ResponseWriter, r *http.Request, name string, def time.Time) (time.Time, bool) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, true
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: want an RFC 3339 time such as 2026-03-29T09:00:00+02:00, got %q", name, raw))
		return time.Time{}, false
	}
	return t, true
}

func (s *Server) whoIsOnCall(w http.ResponseWriter, r *http.Request) {
	at, ok := onCallTimeParam(w, r, "at", s.opts.Now())
	if !ok {
		return
	}
	res, err := s.opts.OnCall.OnCall(r.Context(), chi.URLParam(r, "name"), at)
	if err != nil {
		onCallError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) listOverrides(w http.ResponseWriter, r *http.Request) {
	// By default: the overrides that are not over yet.
	from, ok := onCallTimeParam(w, r, "from", s.opts.Now())
	if !ok {
		return
	}
	to, ok := onCallTimeParam(w, r, "to", time.Time{})
	if !ok {
		return
	}
	list, err := s.opts.OnCall.Overrides(r.Context(), chi.URLParam(r, "name"), from, to)
	if err != nil {
		onCallError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// overrideBody is what a client sends to create an override; the schedule
// comes from the URL and the id from the store.
type overrideBody struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Add    string    `json:"add"`
	Remove string    `json:"remove"`
	Note   string    `json:"note"`
}

func (s *Server) addOverride(w http.ResponseWriter, r *http.Request) {
	var b overrideBody
	if !s.decodeOnCallBody(w, r, &b) {
		return
	}
	o, err := s.opts.OnCall.AddOverride(r.Context(), oncall.Override{
		Schedule: chi.URLParam(r, "name"), Start: b.Start, End: b.End, Add: b.Add, Remove: b.Remove, Note: b.Note,
	})
	if err != nil {
		onCallError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) deleteOverride(w http.ResponseWriter, r *http.Request) {
	raw := chi.URLParam(r, "id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("override id: want a positive number, got %q", raw))
		return
	}
	if err := s.opts.OnCall.DeleteOverride(r.Context(), chi.URLParam(r, "name"), id); err != nil {
		onCallError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// shiftWindow reads from/to, or from and a number of weeks; by default the
// next icalWeeks weeks.
func (s *Server) shiftWindow(w http.ResponseWriter, r *http.Request) (from, to time.Time, ok bool) {
	if from, ok = onCallTimeParam(w, r, "from", s.opts.Now()); !ok {
		return
	}
	weeks := icalWeeks
	if raw := r.URL.Query().Get("weeks"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 52 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("weeks: want a number from 1 to 52, got %q", raw))
			return from, to, false
		}
		weeks = n
	}
	to, ok = onCallTimeParam(w, r, "to", from.AddDate(0, 0, 7*weeks))
	if ok && !to.After(from) {
		writeError(w, http.StatusBadRequest, "to: must be after from")
		ok = false
	}
	return from, to, ok
}

func (s *Server) userShifts(w http.ResponseWriter, r *http.Request) {
	from, to, ok := s.shiftWindow(w, r)
	if !ok {
		return
	}
	list, err := s.opts.OnCall.UserShifts(r.Context(), chi.URLParam(r, "name"), from, to)
	if err != nil {
		onCallError(w, err)
		return
	}
	if list == nil {
		list = []oncall.Shift{}
	}
	writeJSON(w, http.StatusOK, list)
}

// userShiftsICal serves a person's shifts as a calendar to subscribe to.
func (s *Server) userShiftsICal(w http.ResponseWriter, r *http.Request) {
	from, to, ok := s.shiftWindow(w, r)
	if !ok {
		return
	}
	user := chi.URLParam(r, "name")
	list, err := s.opts.OnCall.UserShifts(r.Context(), user, from, to)
	if err != nil {
		onCallError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", user+".ics"))
	if err := oncall.WriteICal(w, user, list, s.opts.Now()); err != nil {
		s.opts.Logger.Warn("Writing iCalendar feed failed", "user", user, "err", err)
	}
}
