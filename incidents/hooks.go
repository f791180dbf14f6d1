package incidents

import (
	"context"
	"fmt"
	"time"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/notifiers/pagerduty"
	"github.com/klaxon-dev/klaxon/storage"
)

// dedupScan bounds how many of the latest incidents a PagerDuty incident
// key is looked for in; PagerDuty only reports on recent incidents.
const dedupScan = 2000

// SlackSigningSecret is the configured Slack signing secret, "" if none.
func (s *Service) SlackSigningSecret() string {
	if w := s.work.Load(); w != nil {
		return w.cfg.SlackSigningSecret
	}
	return ""
}

// PagerDutyWebhookSecret is the configured PagerDuty v3 webhook secret,
// "" if none.
func (s *Service) PagerDutyWebhookSecret() string {
	if w := s.work.Load(); w != nil {
		return w.cfg.PagerDutyWebhookSecret
	}
	return ""
}

// ByPagerDutyKey finds the incident whose PagerDuty alerts carry key as
// their dedup_key (which PagerDuty reports as the incident_key). The key
// is a hash of the group key, so the latest incidents are hashed and
// compared; the newest incident of the group wins.
func (s *Service) ByPagerDutyKey(ctx context.Context, key string) (int64, error) {
	rows, err := s.db.Query(ctx, `SELECT id, group_key FROM incidents ORDER BY id DESC LIMIT ?`, dedupScan)
	if err != nil {
		return 0, fmt.Errorf("find incident by PagerDuty key: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			gk string
		)
		if err := rows.Scan(&id, &gk); err != nil {
			return 0, err
		}
		if key != "" && pagerduty.DedupKey(gk) == key {
			return id, nil
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%w: no incident has PagerDuty incident key %q", ErrNotFound, key)
}

// SlackActor maps a Slack member to the Klaxon user whose slack contact
// method is that member id; a member who is no Klaxon user acts under
// their Slack name.
func (s *Service) SlackActor(ctx context.Context, memberID, name string) Actor {
	if s.oncall != nil && memberID != "" {
		users, err := s.oncall.Users(ctx)
		if err == nil {
			for _, u := range users {
				for _, c := range u.Contacts {
					if c.Type == oncall.Slack && c.To == memberID {
						return Actor{Name: u.Name, Via: "slack"}
					}
				}
			}
		}
	}
	if name == "" {
		name = "slack:" + memberID
	}
	return Actor{Name: name, Via: "slack"}
}

// Reopen triggers a resolved incident again by hand (PagerDuty's
// incident.reopened); on an open incident it takes back an ack.
func (s *Service) Reopen(ctx context.Context, id int64, by Actor) (*Incident, error) {
	inc, err := getIncident(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if inc.Status != Resolved {
		return s.Unack(ctx, id, by)
	}
	inc, err = s.transition(ctx, id, by, func(tx *storage.Tx, inc *Incident, now time.Time) error {
		if inc.Status != Resolved {
			return nil
		}
		return s.retrigger(ctx, tx, inc, now, "reopened", by, true)
	})
	if err == nil {
		s.Wake()
	}
	return inc, err
}
