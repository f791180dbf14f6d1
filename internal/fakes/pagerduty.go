package fakes

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// PagerDuty is a fake of PagerDuty's Events API v2 (POST /v2/enqueue). It
// validates events as the API documents
// (https://developer.pagerduty.com/docs/send-alert-event): a 32-character
// routing_key, event_action trigger, acknowledge or resolve, a dedup_key for
// acknowledge and resolve, and for trigger a payload with a summary of at most
// 1024 characters, a source and a severity of critical, error, warning or
// info. Valid events get 202 {status, message, dedup_key}; invalid ones 400
// {status, message, errors}; scripted faults (e.g. 429) take precedence.
type PagerDuty struct {
	mu     sync.Mutex
	events []PagerDutyEvent
	faults []Fault
	states map[string]string // dedup_key -> triggered, acknowledged, resolved
	keys   []string          // accepted routing keys; empty: any valid one
	n      int
}

// PagerDutyEvent is an accepted event as it arrived.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Client      string            `json:"client"`
	ClientURL   string            `json:"client_url"`
	Payload     *PagerDutyPayload `json:"payload"`
	Links       []map[string]any  `json:"links"`
	Images      []map[string]any  `json:"images"`
	// Raw is the request body.
	Raw []byte `json:"-"`
}

// PagerDutyPayload is the payload of a trigger event.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component"`
	Group         string         `json:"group"`
	Class         string         `json:"class"`
	CustomDetails map[string]any `json:"custom_details"`
}

// NewPagerDuty returns a fake that accepts the given routing keys, or any
// well-formed one if none are given.
func NewPagerDuty(routingKeys ...string) *PagerDuty {
	return &PagerDuty{states: map[string]string{}, keys: routingKeys}
}

// Fail makes the next requests fail with the faults, in order.
func (p *PagerDuty) Fail(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, faults...)
}

// Events returns the accepted events, oldest first.
func (p *PagerDuty) Events() []PagerDutyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// State returns the state of the alert with dedupKey as PagerDuty would
// show it: triggered, acknowledged, resolved, or "" if unknown.
func (p *PagerDuty) State(dedupKey string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states[dedupKey]
}

var routingKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// ServeHTTP implements http.Handler.
// GET /_fake/events lists the accepted events, for people watching a local
// setup.
func (p *PagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/_fake/events" {
		p.mu.Lock()
		states := maps.Clone(p.states)
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"events": p.Events(), "alerts": states})
		return
	}
	if r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 512<<10+1))
	if err != nil {
		return
	}
	if f, ok := p.nextFault(); ok {
		f.write(w, map[string]any{"status": "throttle event", "message": "Requests for this service are arriving too quickly.  Please retry later."})
		return
	}
	if len(body) > 512<<10 {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"status": "invalid event", "message": "Event object is too large"})
		return
	}
	var ev PagerDutyEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid",
			"errors": []string{"Malformed JSON: " + err.Error()}})
		return
	}
	ev.Raw = body
	if errs := p.validate(&ev); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": p.accept(ev)})
}

func (p *PagerDuty) nextFault() (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.faults) == 0 {
		return Fault{}, false
	}
	f := p.faults[0]
	p.faults = p.faults[1:]
	return f, true
}

// validate returns what is wrong with ev, in the words of the API's errors.
func (p *PagerDuty) validate(ev *PagerDutyEvent) []string {
	var errs []string
	switch {
	case !routingKeyRE.MatchString(ev.RoutingKey):
		errs = append(errs, "'routing_key' must be a 32 character integration key")
	case len(p.keys) > 0 && !slices.Contains(p.keys, ev.RoutingKey):
		errs = append(errs, "Invalid routing key")
	}
	if utf8.RuneCountInString(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' must be at most 255 characters")
	}
	switch ev.EventAction {
	case "trigger":
		errs = append(errs, validatePayload(ev.Payload)...)
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is required for event_action "+ev.EventAction)
		}
	default:
		errs = append(errs, fmt.Sprintf("'event_action' must be one of trigger, acknowledge or resolve, not %q", ev.EventAction))
	}
	return errs
}

func validatePayload(pl *PagerDutyPayload) []string {
	if pl == nil {
		return []string{"'payload' is missing or empty"}
	}
	var errs []string
	if n := utf8.RuneCountInString(pl.Summary); n == 0 || n > 1024 {
		errs = append(errs, fmt.Sprintf("'payload.summary' must be 1 to 1024 characters, got %d", n))
	}
	if pl.Source == "" {
		errs = append(errs, "'payload.source' is missing or empty")
	}
	if !slices.Contains([]string{"critical", "error", "warning", "info"}, pl.Severity) {
		errs = append(errs, fmt.Sprintf("'payload.severity' must be critical, error, warning or info, not %q", pl.Severity))
	}
	if pl.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339, pl.Timestamp); err != nil {
			errs = append(errs, "'payload.timestamp' must be an ISO 8601 timestamp")
		}
	}
	return errs
}

// accept records ev and moves its alert's state; it returns the dedup key,
// generated for a trigger without one as PagerDuty does.
func (p *PagerDuty) accept(ev PagerDutyEvent) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.DedupKey == "" {
		p.n++
		ev.DedupKey = fmt.Sprintf("fake%028d", p.n)
	}
	p.events = append(p.events, ev)
	st := p.states[ev.DedupKey]
	switch ev.EventAction {
	case "trigger":
		if st != "acknowledged" && st != "triggered" {
			st = "triggered"
		}
	case "acknowledge":
		// Acknowledging or resolving an alert that is not open is
		// accepted and ignored.
		if st == "triggered" {
			st = "acknowledged"
		}
	case "resolve":
		if st != "" {
			st = "resolved"
		}
	}
	p.states[ev.DedupKey] = st
	return ev.DedupKey
}
