package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// Postmortem is the review of an incident. It starts prefilled from the
// incident (summary, impact window, timeline, alerts, links) and is then
// edited; every edit is a new version.
type Postmortem struct {
	IncidentID  int64        `json:"incidentId"`
	Version     int          `json:"version"`
	Title       string       `json:"title"`
	Summary     string       `json:"summary"`
	ImpactStart time.Time    `json:"impactStart"`
	ImpactEnd   *time.Time   `json:"impactEnd,omitempty"`
	Impact      string       `json:"impact"`
	RootCause   string       `json:"rootCause"`
	ActionItems []ActionItem `json:"actionItems"`
	// Timeline, Alerts and Links are the incident's as of the creation.
	Timeline  []Event   `json:"timeline"`
	Alerts    []Alert   `json:"alerts"`
	Links     []Link    `json:"links"`
	Author    string    `json:"author,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ActionItem is a follow-up of a postmortem.
type ActionItem struct {
	Title  string `json:"title"`
	Owner  string `json:"owner,omitempty"`
	Due    string `json:"due,omitempty"` // a date, YYYY-MM-DD
	Status string `json:"status"`        // open or done
}

// OpenActionItem is an open action item with the incident it came from.
type OpenActionItem struct {
	ActionItem
	IncidentID int64  `json:"incidentId"`
	Incident   string `json:"incident"`
}

// CreatePostmortem starts the postmortem of an incident from the
// template; ErrConflict if it has one already.
func (s *Service) CreatePostmortem(ctx context.Context, id int64, by Actor) (*Postmortem, error) {
	inc, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	pm := &Postmortem{IncidentID: id, Version: 1, Title: "Postmortem: " + inc.Title,
		Summary:     fmt.Sprintf("%s (%s severity) on receiver %s.", inc.Title, orNone(inc.Severity), inc.Receiver),
		ImpactStart: inc.OpenedAt, ImpactEnd: inc.ResolvedAt,
		Impact:      "(To fill in: who and what was affected, and how badly.)",
		RootCause:   "(To fill in: why it happened.)",
		ActionItems: []ActionItem{}, Timeline: inc.Timeline, Alerts: inc.Alerts, Links: inc.Links,
		Author: actorOrAnonymous(by).Name, CreatedAt: now, UpdatedAt: now}
	err = s.db.InTx(ctx, func(tx *storage.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM postmortems WHERE incident_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: incident %d has a postmortem already", ErrConflict, id)
		}
		if err := writePostmortem(ctx, tx, pm, true); err != nil {
			return err
		}
		return addEvent(ctx, tx, id, now, "postmortem_created", actorOrAnonymous(by), pm.Title)
	})
	if err != nil {
		return nil, err
	}
	return pm, nil
}

func orNone(s string) string {
	if s == "" {
		return "no"
	}
	return s
}

// UpdatePostmortem saves an edit as the next version. pm.Version must be
// the version edited: an edit of an older one is ErrConflict, so that two
// people editing at once do not overwrite each other.
func (s *Service) UpdatePostmortem(ctx context.Context, id int64, by Actor, pm Postmortem) (*Postmortem, error) {
	for i, a := range pm.ActionItems {
		if strings.TrimSpace(a.Title) == "" {
			return nil, fmt.Errorf("%w: actionItems[%d].title: must not be empty", ErrInvalid, i)
		}
		switch a.Status {
		case "":
			pm.ActionItems[i].Status = "open"
		case "open", "done":
		default:
			return nil, fmt.Errorf("%w: actionItems[%d].status: want open or done, got %q", ErrInvalid, i, a.Status)
		}
		if a.Due != "" {
			if _, err := time.Parse(time.DateOnly, a.Due); err != nil {
				return nil, fmt.Errorf("%w: actionItems[%d].due: want YYYY-MM-DD, got %q", ErrInvalid, i, a.Due)
			}
		}
	}
	var out *Postmortem
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		cur, err := readPostmortem(ctx, tx, id)
		if err != nil {
			return err
		}
		if pm.Version != cur.Version {
			return fmt.Errorf("%w: postmortem of incident %d is at version %d, the edit is of version %d", ErrConflict, id, cur.Version, pm.Version)
		}
		now := s.clock.Now()
		// What the incident recorded stays as it was at creation.
		pm.IncidentID, pm.Timeline, pm.Alerts, pm.Links, pm.CreatedAt = id, cur.Timeline, cur.Alerts, cur.Links, cur.CreatedAt
		pm.Version, pm.UpdatedAt, pm.Author = cur.Version+1, now, actorOrAnonymous(by).Name
		if pm.ActionItems == nil {
			pm.ActionItems = []ActionItem{}
		}
		if err := writePostmortem(ctx, tx, &pm, false); err != nil {
			return err
		}
		out = &pm
		return addEvent(ctx, tx, id, now, "postmortem_edited", actorOrAnonymous(by), fmt.Sprintf("version %d", pm.Version))
	})
	return out, err
}

// Postmortem returns an incident's postmortem, ErrNotFound if it has none.
func (s *Service) Postmortem(ctx context.Context, id int64) (*Postmortem, error) {
	return readPostmortem(ctx, s.db, id)
}

func writePostmortem(ctx context.Context, tx *storage.Tx, pm *Postmortem, create bool) error {
	body, err := json.Marshal(pm)
	if err != nil {
		return err
	}
	if create {
		_, err = tx.Exec(ctx, `INSERT INTO postmortems (incident_id, version, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			pm.IncidentID, pm.Version, string(body), storage.Millis(pm.CreatedAt), storage.Millis(pm.UpdatedAt))
	} else {
		_, err = tx.Exec(ctx, `UPDATE postmortems SET version = ?, body = ?, updated_at = ? WHERE incident_id = ?`,
			pm.Version, string(body), storage.Millis(pm.UpdatedAt), pm.IncidentID)
	}
	if err != nil {
		return fmt.Errorf("save postmortem: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO postmortem_versions (incident_id, version, body, author, created_at) VALUES (?, ?, ?, ?, ?)`,
		pm.IncidentID, pm.Version, string(body), pm.Author, storage.Millis(pm.UpdatedAt))
	if err != nil {
		return fmt.Errorf("save postmortem version: %w", err)
	}
	return nil
}

func readPostmortem(ctx context.Context, q storage.Querier, id int64) (*Postmortem, error) {
	var body string
	err := q.QueryRow(ctx, `SELECT body FROM postmortems WHERE incident_id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: incident %d has no postmortem", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var pm Postmortem
	if err := json.Unmarshal([]byte(body), &pm); err != nil {
		return nil, fmt.Errorf("postmortem of incident %d: %w", id, err)
	}
	return &pm, nil
}

// OpenActionItems lists the open action items of every postmortem,
// oldest incident first.
func (s *Service) OpenActionItems(ctx context.Context) ([]OpenActionItem, error) {
	rows, err := s.db.Query(ctx, `SELECT body FROM postmortems ORDER BY incident_id`)
	if err != nil {
		return nil, fmt.Errorf("list postmortems: %w", err)
	}
	defer rows.Close()
	out := []OpenActionItem{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var pm Postmortem
		if err := json.Unmarshal([]byte(body), &pm); err != nil {
			return nil, err
		}
		for _, a := range pm.ActionItems {
			if a.Status != "done" {
				out = append(out, OpenActionItem{ActionItem: a, IncidentID: pm.IncidentID, Incident: pm.Title})
			}
		}
	}
	return out, rows.Err()
}
