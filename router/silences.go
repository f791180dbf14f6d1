package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/storage"
)

// silenceRetention is how long an expired silence stays visible,
// Alertmanager's --data.retention default.
const silenceRetention = 120 * time.Hour

// Errors of the silence operations, as Alertmanager's API distinguishes them.
var (
	// ErrSilenceNotFound: no silence has the given id.
	ErrSilenceNotFound = errors.New("silence not found")
	// ErrInvalidSilence wraps every validation failure of a silence.
	ErrInvalidSilence = errors.New("invalid silence")
)

// Silence mutes the alerts its matchers all match while it is active.
type Silence struct {
	ID        string
	Matchers  labels.Matchers
	StartsAt  time.Time
	EndsAt    time.Time
	UpdatedAt time.Time
	CreatedBy string
	Comment   string
}

// State is the silence's state at now: pending, active or expired.
func (s *Silence) State(now time.Time) silence.SilenceState {
	return silence.StateAt(s.StartsAt, s.EndsAt, now)
}

// validate is Alertmanager's validateSilence.
func (s *Silence) validate() error {
	if len(s.Matchers) == 0 {
		return fmt.Errorf("%w: at least one matcher required", ErrInvalidSilence)
	}
	allEmpty := true
	for _, m := range s.Matchers {
		if !m.Matches("") {
			allEmpty = false
		}
	}
	if allEmpty {
		return fmt.Errorf("%w: at least one matcher must not match the empty string", ErrInvalidSilence)
	}
	if s.StartsAt.IsZero() || s.EndsAt.IsZero() {
		return fmt.Errorf("%w: invalid zero start or end timestamp", ErrInvalidSilence)
	}
	if s.EndsAt.Before(s.StartsAt) {
		return fmt.Errorf("%w: end time must not be before start time", ErrInvalidSilence)
	}
	return nil
}

// sameMatchers compares matchers as Alertmanager's canUpdate does: in order.
func sameMatchers(a, b labels.Matchers) bool {
	return slices.EqualFunc(a, b, func(x, y *labels.Matcher) bool {
		return x.Type == y.Type && x.Name == y.Name && x.Value == y.Value
	})
}

// canUpdate is Alertmanager's rule for changing a silence in place without
// rewriting its history.
func canUpdate(a, b *Silence, now time.Time) bool {
	if !sameMatchers(a.Matchers, b.Matchers) {
		return false
	}
	switch a.State(now) {
	case silence.SilenceStateActive:
		return a.StartsAt.Unix() == b.StartsAt.Unix() && !b.EndsAt.Before(now)
	case silence.SilenceStatePending:
		return !b.StartsAt.Before(now)
	default:
		return false
	}
}

// Mutes reports whether the silence mutes an alert with lset at now.
func (s *Silence) Mutes(lset model.LabelSet, now time.Time) bool {
	return s.State(now) == silence.SilenceStateActive && s.Matchers.Matches(lset)
}

// SetSilence creates or updates a silence as Alertmanager's Set does and
// returns its id: a silence without id is new; one with an id is updated
// in place if only its end, comment or author changed, and otherwise the
// old one is expired and a new one created. The silence is durable when
// SetSilence returns.
func (r *Router) SetSilence(ctx context.Context, in *Silence) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.syncSilencesLocked(ctx); err != nil {
		return "", err
	}
	now := r.clock.Now()
	s := *in
	s.Matchers = slices.Clone(in.Matchers)
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if err := s.validate(); err != nil {
		return "", err
	}
	prev, ok := r.silences[s.ID]
	if s.ID != "" && !ok {
		return "", ErrSilenceNotFound
	}
	var expired *Silence
	if ok && canUpdate(prev, &s, now) {
		s.UpdatedAt = now
	} else {
		if s.EndsAt.Before(now) {
			return "", fmt.Errorf("%w: end time can't be in the past", ErrInvalidSilence)
		}
		s.ID = uuid.NewString()
		if s.StartsAt.Before(now) {
			s.StartsAt = now
		}
		s.UpdatedAt = now
		if ok && prev.State(now) != silence.SilenceStateExpired {
			expired = expireAt(prev, now)
		}
	}
	err := r.db.InTx(ctx, func(tx *storage.Tx) error {
		if expired != nil {
			if err := saveSilence(ctx, tx, expired); err != nil {
				return err
			}
		}
		// Silences past their retention go here, where writes happen
		// anyway, instead of on a timer of their own.
		if _, err := tx.Exec(ctx, `DELETE FROM silences WHERE ends_at < ?`, storage.Millis(now.Add(-silenceRetention))); err != nil {
			return fmt.Errorf("delete old silences: %w", err)
		}
		return saveSilence(ctx, tx, &s)
	})
	if err != nil {
		return "", err
	}
	for _, old := range r.silences {
		if r.silenceGone(old, now) {
			delete(r.silences, old.ID)
			r.silenceIdx.remove(old)
		}
	}
	if expired != nil {
		r.putSilenceLocked(expired)
	}
	r.putSilenceLocked(&s)
	r.silChecked = time.Time{} // the next flush reads the table again
	return s.ID, nil
}

// expireAt returns a copy of s ended at now, as Alertmanager's expire does.
func expireAt(s *Silence, now time.Time) *Silence {
	c := *s
	switch s.State(now) {
	case silence.SilenceStatePending:
		c.StartsAt, c.EndsAt = now, now
	case silence.SilenceStateActive:
		c.EndsAt = now
	}
	c.UpdatedAt = now
	return &c
}

// ExpireSilence ends a silence now. Expiring an expired silence is a no-op,
// as in Alertmanager.
func (r *Router) ExpireSilence(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.syncSilencesLocked(ctx); err != nil {
		return err
	}
	now := r.clock.Now()
	s, ok := r.silences[id]
	if !ok {
		return ErrSilenceNotFound
	}
	if s.State(now) == silence.SilenceStateExpired {
		return nil
	}
	e := expireAt(s, now)
	if err := r.db.InTx(ctx, func(tx *storage.Tx) error { return saveSilence(ctx, tx, e) }); err != nil {
		return err
	}
	r.putSilenceLocked(e)
	r.silChecked = time.Time{} // the next flush reads the table again
	return nil
}

// GetSilence returns a copy of the silence with id.
func (r *Router) GetSilence(ctx context.Context, id string) (*Silence, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.syncSilencesLocked(ctx); err != nil {
		return nil, err
	}
	s, ok := r.silences[id]
	if !ok || r.silenceGone(s, r.clock.Now()) {
		return nil, ErrSilenceNotFound
	}
	c := *s
	return &c, nil
}

// Silences returns copies of all silences not yet past their retention.
func (r *Router) Silences(ctx context.Context) ([]*Silence, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.syncSilencesLocked(ctx); err != nil {
		return nil, err
	}
	now := r.clock.Now()
	out := make([]*Silence, 0, len(r.silences))
	for _, s := range r.silences {
		if r.silenceGone(s, now) {
			continue
		}
		c := *s
		out = append(out, &c)
	}
	return out, nil
}

func (r *Router) silenceGone(s *Silence, now time.Time) bool {
	return s.EndsAt.Add(silenceRetention).Before(now)
}

// silencedByLocked lists the ids of the active silences that mute lset.
func (r *Router) silencedByLocked(lset model.LabelSet, now time.Time) []string {
	var ids []string
	r.silenceIdx.each(lset, func(s *Silence) {
		if s.Mutes(lset, now) {
			ids = append(ids, s.ID)
		}
	})
	slices.Sort(ids)
	return ids
}

// storedMatcher is a matcher as stored in the silences table.
type storedMatcher struct {
	Type  labels.MatchType `json:"type"`
	Name  string           `json:"name"`
	Value string           `json:"value"`
}

func saveSilence(ctx context.Context, tx *storage.Tx, s *Silence) error {
	ms := make([]storedMatcher, len(s.Matchers))
	for i, m := range s.Matchers {
		ms[i] = storedMatcher{m.Type, m.Name, m.Value}
	}
	b, err := json.Marshal(ms)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at, created_by, comment)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
			ends_at = excluded.ends_at, updated_at = excluded.updated_at, created_by = excluded.created_by,
			comment = excluded.comment`,
		s.ID, string(b), storage.Millis(s.StartsAt), storage.Millis(s.EndsAt), storage.Millis(s.UpdatedAt),
		s.CreatedBy, s.Comment)
	if err != nil {
		return fmt.Errorf("store silence %s: %w", s.ID, err)
	}
	return nil
}

// readSilences reads every stored silence.
func readSilences(ctx context.Context, db *storage.DB) (map[string]*Silence, error) {
	rows, err := db.Query(ctx, `SELECT id, matchers, starts_at, ends_at, updated_at, created_by, comment FROM silences`)
	if err != nil {
		return nil, fmt.Errorf("load silences: %w", err)
	}
	defer rows.Close()
	out := map[string]*Silence{}
	for rows.Next() {
		var (
			s                     Silence
			ms                    string
			starts, ends, updated int64
		)
		if err := rows.Scan(&s.ID, &ms, &starts, &ends, &updated, &s.CreatedBy, &s.Comment); err != nil {
			return nil, err
		}
		var stored []storedMatcher
		if err := json.Unmarshal([]byte(ms), &stored); err != nil {
			return nil, fmt.Errorf("stored silence %s: %w", s.ID, err)
		}
		for _, m := range stored {
			lm, err := labels.NewMatcher(m.Type, m.Name, m.Value)
			if err != nil {
				return nil, fmt.Errorf("stored silence %s: %w", s.ID, err)
			}
			s.Matchers = append(s.Matchers, lm)
		}
		s.StartsAt, s.EndsAt, s.UpdatedAt = storage.Time(starts), storage.Time(ends), storage.Time(updated)
		out[s.ID] = &s
	}
	return out, rows.Err()
}

// String describes the silence for logs.
func (s *Silence) String() string {
	ms := make([]string, len(s.Matchers))
	for i, m := range s.Matchers {
		ms[i] = m.String()
	}
	return s.ID + "{" + strings.Join(ms, ",") + "}"
}

// silenceIndex finds the silences that may mute a label set without
// checking them all: a silence with an equality matcher on a non-empty
// value can only mute alerts carrying that exact label, so it is filed
// under that pair; the others are always checked.
type silenceIndex struct {
	byPair map[string]map[string]*Silence // "name\xffvalue" -> id -> silence
	rest   map[string]*Silence
}

func newSilenceIndex() *silenceIndex {
	return &silenceIndex{byPair: map[string]map[string]*Silence{}, rest: map[string]*Silence{}}
}

func pairKey(name, value string) string { return name + "\xff" + value }

func indexKey(s *Silence) (string, bool) {
	for _, m := range s.Matchers {
		if m.Type == labels.MatchEqual && m.Value != "" {
			return pairKey(m.Name, m.Value), true
		}
	}
	return "", false
}

func (ix *silenceIndex) put(s *Silence) {
	k, ok := indexKey(s)
	if !ok {
		ix.rest[s.ID] = s
		return
	}
	m := ix.byPair[k]
	if m == nil {
		m = map[string]*Silence{}
		ix.byPair[k] = m
	}
	m[s.ID] = s
}

func (ix *silenceIndex) remove(s *Silence) {
	k, ok := indexKey(s)
	if !ok {
		delete(ix.rest, s.ID)
		return
	}
	if m := ix.byPair[k]; m != nil {
		delete(m, s.ID)
		if len(m) == 0 {
			delete(ix.byPair, k)
		}
	}
}

// each calls fn with every silence that may mute lset.
func (ix *silenceIndex) each(lset model.LabelSet, fn func(*Silence)) {
	for _, s := range ix.rest {
		fn(s)
	}
	for n, v := range lset {
		for _, s := range ix.byPair[pairKey(string(n), string(v))] {
			fn(s)
		}
	}
}

// putSilenceLocked stores s in memory, replacing the silence of that id.
func (r *Router) putSilenceLocked(s *Silence) {
	if old := r.silences[s.ID]; old != nil {
		r.silenceIdx.remove(old)
	}
	r.silences[s.ID] = s
	r.silenceIdx.put(s)
}
