package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/silence"

	"github.com/klaxon-dev/klaxon/router"
)

// gettableSilence converts a silence for the API, as Alertmanager's
// GettableSilenceFromProto does.
func gettableSilence(sil *router.Silence, now time.Time) *models.GettableSilence {
	start, end, updated := strfmt.DateTime(sil.StartsAt), strfmt.DateTime(sil.EndsAt), strfmt.DateTime(sil.UpdatedAt)
	state := string(sil.State(now))
	out := &models.GettableSilence{
		Silence: models.Silence{
			StartsAt: &start, EndsAt: &end, Matchers: models.Matchers{},
			Comment: &sil.Comment, CreatedBy: &sil.CreatedBy,
		},
		ID:        &sil.ID,
		UpdatedAt: &updated,
		Status:    &models.SilenceStatus{State: &state},
	}
	for _, m := range sil.Matchers {
		name, value := m.Name, m.Value
		isEqual := m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp
		isRegex := m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp
		out.Matchers = append(out.Matchers, &models.Matcher{Name: &name, Value: &value, IsEqual: &isEqual, IsRegex: &isRegex})
	}
	return out
}

// silenceOrder is Alertmanager's SortSilences: active first (next to end
// first), then pending (next to start first), then expired (most recent
// first).
func silenceOrder(now time.Time) func(a, b *router.Silence) int {
	rank := map[silence.SilenceState]int{silence.SilenceStateActive: 1, silence.SilenceStatePending: 2, silence.SilenceStateExpired: 3}
	return func(a, b *router.Silence) int {
		sa, sb := a.State(now), b.State(now)
		if sa != sb {
			return rank[sa] - rank[sb]
		}
		switch sa {
		case silence.SilenceStatePending:
			return a.StartsAt.Compare(b.StartsAt)
		case silence.SilenceStateExpired:
			return b.EndsAt.Compare(a.EndsAt)
		default:
			return a.EndsAt.Compare(b.EndsAt)
		}
	}
}

// getSilencesV2 is GET /api/v2/silences. A filter matches a silence whose
// matchers, read as a label set of name to value, it matches, as in
// Alertmanager 0.25.
func (s *Server) getSilencesV2(w http.ResponseWriter, r *http.Request) {
	ms, err := parseFilter(r.URL.Query()["filter"])
	if err != nil {
		writeV2Error(w, http.StatusBadRequest, err.Error())
		return
	}
	now := s.opts.Now()
	sils, err := s.opts.Alertmanager.Silences(r.Context())
	if err != nil {
		writeV2Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	slices.SortStableFunc(sils, silenceOrder(now))
	out := models.GettableSilences{}
	for _, sil := range sils {
		sms := map[string]string{}
		for _, m := range sil.Matchers {
			sms[m.Name] = m.Value
		}
		if matchFilterLabels(ms, sms) {
			out = append(out, gettableSilence(sil, now))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// silenceID reads the {id} path parameter, which Alertmanager's API
// declares a UUID; anything else is rejected with 422 as go-swagger does.
func silenceID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := chi.URLParam(r, "id")
	if !strfmt.IsUUID(id) {
		writeV2Error(w, http.StatusUnprocessableEntity, fmt.Sprintf("silenceID in path must be of type uuid: %q", id))
		return "", false
	}
	return id, true
}

// getSilenceV2 is GET /api/v2/silence/{id}.
func (s *Server) getSilenceV2(w http.ResponseWriter, r *http.Request) {
	id, ok := silenceID(w, r)
	if !ok {
		return
	}
	sil, err := s.opts.Alertmanager.GetSilence(r.Context(), id)
	if errors.Is(err, router.ErrSilenceNotFound) {
		writeV2Error(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		writeV2Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, gettableSilence(sil, s.opts.Now()))
}

// deleteSilenceV2 is DELETE /api/v2/silence/{id}: it expires the silence.
func (s *Server) deleteSilenceV2(w http.ResponseWriter, r *http.Request) {
	id, ok := silenceID(w, r)
	if !ok {
		return
	}
	err := s.opts.Alertmanager.ExpireSilence(r.Context(), id)
	switch {
	case errors.Is(err, router.ErrSilenceNotFound):
		writeV2Error(w, http.StatusNotFound, err.Error())
	case err != nil:
		writeV2Error(w, http.StatusInternalServerError, err.Error())
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// postSilencesV2 is POST /api/v2/silences: create, or update by id.
func (s *Server) postSilencesV2(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	sil, err := DecodePostableSilence(body, s.opts.Now())
	if err != nil {
		writeV2Error(w, http.StatusBadRequest, err.Error())
		return
	}
	// A logged-in user silences as themselves; a token as its body says.
	sil.CreatedBy = actorName(r, sil.CreatedBy)
	id, err := s.opts.Alertmanager.SetSilence(r.Context(), sil)
	switch {
	case errors.Is(err, router.ErrSilenceNotFound):
		writeV2Error(w, http.StatusNotFound, err.Error())
	case errors.Is(err, router.ErrInvalidSilence):
		writeV2Error(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeV2Error(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"silenceID": id})
	}
}

// DecodePostableSilence reads and validates a PostableSilence body as
// Alertmanager's API does, and converts it to a router silence.
func DecodePostableSilence(body io.Reader, now time.Time) (*router.Silence, error) {
	var ps models.PostableSilence
	dec := json.NewDecoder(body)
	if err := dec.Decode(&ps); err != nil {
		return nil, fmt.Errorf("invalid silence body: %w", err)
	}
	if err := ps.Validate(strfmt.Default); err != nil {
		return nil, err
	}
	sil := &router.Silence{
		ID: ps.ID, StartsAt: time.Time(*ps.StartsAt), EndsAt: time.Time(*ps.EndsAt),
		CreatedBy: *ps.CreatedBy, Comment: *ps.Comment,
	}
	for i, m := range ps.Matchers {
		isEqual, isRegex := true, false
		if m.IsEqual != nil {
			isEqual = *m.IsEqual
		}
		if m.IsRegex != nil {
			isRegex = *m.IsRegex
		}
		t := labels.MatchEqual
		switch {
		case !isEqual && !isRegex:
			t = labels.MatchNotEqual
		case isEqual && isRegex:
			t = labels.MatchRegexp
		case !isEqual && isRegex:
			t = labels.MatchNotRegexp
		}
		lm, err := labels.NewMatcher(t, *m.Name, *m.Value)
		if err != nil {
			return nil, fmt.Errorf("matchers[%d]: %w", i, err)
		}
		sil.Matchers = append(sil.Matchers, lm)
	}
	if !sil.StartsAt.Before(sil.EndsAt) {
		return nil, errors.New("failed to create silence: start time must be before end time")
	}
	if sil.EndsAt.Before(now) {
		return nil, errors.New("failed to create silence: end time can't be in the past")
	}
	return sil, nil
}
