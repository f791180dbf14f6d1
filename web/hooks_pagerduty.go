package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/PagerDuty/go-pagerduty/webhookv3"

	"github.com/klaxon-dev/klaxon/incidents"
)

// pagerDutyWebhook is a PagerDuty v3 webhook event, only the fields read.
// The incident's incident_key is the dedup_key Klaxon's PagerDuty
// integration sends, which leads back to the Klaxon incident.
type pagerDutyWebhook struct {
	Event struct {
		EventType string `json:"event_type"`
		Agent     *struct {
			Summary string `json:"summary"`
		} `json:"agent"`
		Data struct {
			Type        string `json:"type"`
			IncidentKey string `json:"incident_key"`
		} `json:"data"`
	} `json:"event"`
}

// pagerDutyWebhook mirrors acknowledged, unacknowledged, resolved and
// reopened PagerDuty incidents onto their Klaxon incidents. The
// signature (X-PagerDuty-Signature, possibly several v1= values while a
// secret rotates) is checked before the body is decoded. Mirroring is
// idempotent, so the echo of Klaxon's own acknowledge changes nothing.
func (s *Server) pagerDutyWebhook(w http.ResponseWriter, r *http.Request) {
	secret := s.opts.Incidents.PagerDutyWebhookSecret()
	body, ok := readHookBody(w, r, secret)
	if !ok {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := webhookv3.VerifySignature(r, secret); err != nil {
		s.opts.Logger.Warn("Rejected PagerDuty webhook", "err", err)
		status := http.StatusUnauthorized
		if errors.Is(err, webhookv3.ErrNoValidSignatures) {
			status = http.StatusForbidden
		}
		writeError(w, status, "invalid PagerDuty signature")
		return
	}
	var ev pagerDutyWebhook
	if err := json.Unmarshal(body, &ev); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	do := map[string]func(ctx context.Context, id int64, by incidents.Actor) (*incidents.Incident, error){
		"incident.acknowledged":   s.opts.Incidents.Ack,
		"incident.unacknowledged": s.opts.Incidents.Unack,
		"incident.resolved":       s.opts.Incidents.Resolve,
		"incident.reopened":       s.opts.Incidents.Reopen,
	}[ev.Event.EventType]
	if do == nil {
		w.WriteHeader(http.StatusOK) // other events (ping, annotated, ...) are not mirrored
		return
	}
	id, err := s.opts.Incidents.ByPagerDutyKey(r.Context(), ev.Event.Data.IncidentKey)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	by := incidents.Actor{Name: "pagerduty", Via: "pagerduty"}
	if ev.Event.Agent != nil && ev.Event.Agent.Summary != "" {
		by.Name = ev.Event.Agent.Summary
	}
	if _, err := do(r.Context(), id, by); err != nil && !errors.Is(err, incidents.ErrConflict) {
		writeError(w, statusOf(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}
