// Package client is a small Go client for Klaxon's own API, used by the
// klaxon CLI and by end-to-end tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klaxon-dev/klaxon/incidents"
)

// Client talks to one Klaxon server.
type Client struct {
	base *url.URL
	http *http.Client
	// token is sent as Authorization: Bearer when set.
	token string
}

// SetToken makes the client send an API token (klaxon tokens create) with
// every request.
func (c *Client) SetToken(token string) { c.token = token }

// New returns a client for the server at base (e.g. http://localhost:9093,
// including any --web.route-prefix).
func New(base string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("invalid Klaxon URL %q: want e.g. http://localhost:9093", base)
	}
	return &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Error is a non-2xx answer.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// IncidentFilter selects incidents; empty fields match any.
type IncidentFilter struct {
	Status, Severity, Service, Assignee string
}

// ListIncidents lists incidents, newest first, that match f.
func (c *Client) ListIncidents(ctx context.Context, f IncidentFilter) ([]*incidents.Incident, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "severity": f.Severity, "service": f.Service, "assignee": f.Assignee} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := "/api/v1/incidents"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []*incidents.Incident
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// GetIncident returns one incident with its alerts and timeline.
func (c *Client) GetIncident(ctx context.Context, id int64) (*incidents.Incident, error) {
	var out incidents.Incident
	return &out, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/incidents/%d", id), nil, &out)
}

// Ack acknowledges an incident as who, through channel via (api, cli, ui).
func (c *Client) Ack(ctx context.Context, id int64, who, via string) (*incidents.Incident, error) {
	var out incidents.Incident
	return &out, c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/ack", id), map[string]string{"by": who, "via": via}, &out)
}

// Unack takes an acknowledgement back: the incident is triggered again and
// its escalation resumes.
func (c *Client) Unack(ctx context.Context, id int64, who, via string) (*incidents.Incident, error) {
	var out incidents.Incident
	return &out, c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/unack", id), map[string]string{"by": who, "via": via}, &out)
}

// Resolve resolves an incident by hand.
func (c *Client) Resolve(ctx context.Context, id int64, who, via string) (*incidents.Incident, error) {
	var out incidents.Incident
	return &out, c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/resolve", id), map[string]string{"by": who, "via": via}, &out)
}
