package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	goslack "github.com/slack-go/slack"

	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/notifiers/slack"
	"github.com/klaxon-dev/klaxon/router"
)

// AckHooks is what the inbound ack channels need of the incident service:
// their secrets, the mapping of outside identities onto Klaxon's, and the
// email link tokens.
type AckHooks interface {
	SlackSigningSecret() string
	PagerDutyWebhookSecret() string
	SlackActor(ctx context.Context, memberID, name string) incidents.Actor
	ByPagerDutyKey(ctx context.Context, key string) (int64, error)
	Reopen(ctx context.Context, id int64, by incidents.Actor) (*incidents.Incident, error)
	CheckAckToken(ctx context.Context, token string) (*incidents.AckToken, error)
	AckWithToken(ctx context.Context, token string) (*incidents.Incident, error)
}

// maxHookBody bounds the bodies of Slack and PagerDuty hooks, which are
// small; a signature is checked over the whole body, so it is read first.
const maxHookBody = 1 << 20

// silenceFor is how long the Slack "Silence 1h" button silences.
const silenceFor = time.Hour

func (s *Server) ackHookRoutes(r chi.Router) {
	if s.opts.Incidents == nil {
		return
	}
	r.Post("/hooks/slack/interactions", s.slackInteraction)
	r.Post("/hooks/pagerduty", s.pagerDutyWebhook)
	r.Get("/ack/{token}", s.ackLinkPage)
	r.Post("/ack/{token}", s.ackLinkConfirm)
}

// slackInteraction handles a press of a Klaxon button on a Slack message.
// The signature is verified over the raw body before anything in the body
// is read. The answer is an empty 200 at once: the message is updated by
// the outbox with chat.update, like every other state change.
func (s *Server) slackInteraction(w http.ResponseWriter, r *http.Request) {
	secret := s.opts.Incidents.SlackSigningSecret()
	body, ok := readHookBody(w, r, secret)
	if !ok {
		return
	}
	sv, err := goslack.NewSecretsVerifier(r.Header, secret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		s.opts.Logger.Warn("Rejected Slack interaction", "err", err)
		writeError(w, http.StatusUnauthorized, "invalid or stale Slack signature")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	cb, err := goslack.InteractionCallbackParse(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "payload: "+err.Error())
		return
	}
	if cb.Type != goslack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		w.WriteHeader(http.StatusOK) // not a button of ours; nothing to do
		return
	}
	a := cb.ActionCallback.BlockActions[0]
	id, err := strconv.ParseInt(a.Value, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("action value: want an incident id, got %q", a.Value))
		return
	}
	by := s.opts.Incidents.SlackActor(r.Context(), cb.User.ID, cb.User.Name)
	switch a.ActionID {
	case slack.ActionAck:
		_, err = s.opts.Incidents.Ack(r.Context(), id, by)
	case slack.ActionResolve:
		_, err = s.opts.Incidents.Resolve(r.Context(), id, by)
	case slack.ActionSilence1h:
		err = s.silenceIncident(r.Context(), id, by)
	default:
		w.WriteHeader(http.StatusOK)
		return
	}
	if err != nil && !errors.Is(err, incidents.ErrConflict) {
		writeError(w, statusOf(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

// silenceIncident silences the incident's group labels for silenceFor,
// through the same silences as the API v2.
func (s *Server) silenceIncident(ctx context.Context, id int64, by incidents.Actor) error {
	if s.opts.Alertmanager == nil {
		return fmt.Errorf("%w: silences are not available", incidents.ErrConflict)
	}
	inc, err := s.opts.Incidents.Get(ctx, id)
	if err != nil {
		return err
	}
	var ms labels.Matchers
	names := make([]model.LabelName, 0, len(inc.Labels))
	for n := range inc.Labels {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m, err := labels.NewMatcher(labels.MatchEqual, string(n), string(inc.Labels[n]))
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	now := s.opts.Now()
	_, err = s.opts.Alertmanager.SetSilence(ctx, &router.Silence{Matchers: ms, StartsAt: now, EndsAt: now.Add(silenceFor),
		CreatedBy: by.Name, Comment: fmt.Sprintf("Silenced from Slack for incident %d", id)})
	return err
}

// readHookBody reads the raw body of an inbound hook, which must be
// verified against its signature before anything in it is parsed. A hook
// whose secret is not configured does not exist.
func readHookBody(w http.ResponseWriter, r *http.Request, secret string) ([]byte, bool) {
	if secret == "" {
		http.NotFound(w, r)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return nil, false
	}
	return body, true
}
