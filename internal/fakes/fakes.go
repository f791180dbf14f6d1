// Package fakes holds stand-ins for the providers Klaxon notifies that cannot
// be reached from a test machine: Slack's Web API and incoming webhooks, and
// PagerDuty's Events API v2. Each is a real HTTP server that checks requests
// the way the provider's public documentation says the provider does, records
// what it accepted, and can be told to fail (rate limits, outages).
//
// Tests start them with httptest; cmd/klaxon-fakes serves them on loopback
// ports for trying Klaxon by hand.
package fakes

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Fault is a scripted answer that replaces the normal one for one request.
type Fault struct {
	// Status is the HTTP status, e.g. 429 or 503.
	Status int
	// RetryAfter, if positive, is sent as a Retry-After header in seconds.
	RetryAfter time.Duration
	// Body is sent as is; empty means a JSON body fitting the provider.
	Body string
}

func (f Fault) write(w http.ResponseWriter, defaultBody any) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	if f.Body != "" {
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	writeJSON(w, f.Status, defaultBody)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
