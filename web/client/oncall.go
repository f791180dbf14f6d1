package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
)

// OnCall says who is on call for a schedule at at (now when zero), and who
// comes next.
func (c *Client) OnCall(ctx context.Context, schedule string, at time.Time) (*oncall.OnCall, error) {
	path := "/api/v1/schedules/" + url.PathEscape(schedule) + "/oncall"
	if !at.IsZero() {
		path += "?at=" + url.QueryEscape(at.Format(time.RFC3339))
	}
	var out oncall.OnCall
	return &out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Schedules lists every schedule, from the configuration file and the API.
func (c *Client) Schedules(ctx context.Context) ([]oncall.Schedule, error) {
	var out []oncall.Schedule
	return out, c.do(ctx, http.MethodGet, "/api/v1/schedules", nil, &out)
}

// PutSchedule creates or replaces a schedule defined through the API.
func (c *Client) PutSchedule(ctx context.Context, s oncall.Schedule) (*oncall.Schedule, error) {
	var out oncall.Schedule
	return &out, c.do(ctx, http.MethodPut, "/api/v1/schedules/"+url.PathEscape(s.Name), s, &out)
}

// Users lists every user.
func (c *Client) Users(ctx context.Context) ([]oncall.User, error) {
	var out []oncall.User
	return out, c.do(ctx, http.MethodGet, "/api/v1/users", nil, &out)
}

// PutUser creates or replaces a user defined through the API.
func (c *Client) PutUser(ctx context.Context, u oncall.User) (*oncall.User, error) {
	var out oncall.User
	return &out, c.do(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(u.Name), u, &out)
}

// AddOverride adds an override to o.Schedule.
func (c *Client) AddOverride(ctx context.Context, o oncall.Override) (*oncall.Override, error) {
	body := map[string]any{"start": o.Start, "end": o.End, "add": o.Add, "remove": o.Remove, "note": o.Note}
	var out oncall.Override
	return &out, c.do(ctx, http.MethodPost, "/api/v1/schedules/"+url.PathEscape(o.Schedule)+"/overrides", body, &out)
}
