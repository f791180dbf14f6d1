package incidents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// reopen re-opens the group's latest incident if it resolved within the
// configured window, instead of opening a new one: a flapping alert stays
// one incident with one timeline. It returns nil when there is none to
// re-open.
func (s *Service) reopen(ctx context.Context, tx *storage.Tx, n *router.Notification, tl *timeline) (*Incident, error) {
	w := s.work.Load()
	if w == nil || w.cfg.ReopenWindow <= 0 {
		return nil, nil
	}
	since := n.At.Add(-time.Duration(w.cfg.ReopenWindow))
	inc, err := scanIncident(tx.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE group_id = ? AND status = ? AND resolved_at >= ? ORDER BY id DESC LIMIT 1`,
		n.GroupID, Resolved, storage.Millis(since)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find incident to re-open: %w", err)
	}
	err = tx.ExecLater(ctx, `UPDATE incidents SET status = ?, acked_at = 0, acked_by = '', acked_via = '',
		resolved_at = 0, resolved_by = '', resolved_via = '', updated_at = ? WHERE id = ?`,
		Triggered, storage.Millis(n.At), inc.ID)
	if err != nil {
		return nil, fmt.Errorf("re-open incident %d: %w", inc.ID, err)
	}
	msg := fmt.Sprintf("the group fired again %s after it resolved", n.At.Sub(*inc.ResolvedAt).Round(time.Second))
	tl.add(n.At, "reopened", system, msg)
	inc.Status, inc.AckedAt, inc.AckedBy, inc.ResolvedAt, inc.ResolvedBy = Triggered, nil, nil, nil, nil
	inc.UpdatedAt = n.At
	inc.fresh = true
	return inc, nil
}
