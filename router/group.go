package router

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/storage"
)

// group is an aggregation group: the alerts of one route that share the
// values of the route's group_by labels.
type group struct {
	id     string
	key    string
	labels model.LabelSet
	route  *dispatch.Route
	opts   dispatch.RouteOpts
	alerts map[model.Fingerprint]*alert.Alert

	createdAt time.Time
	nextFlush time.Time
	flushed   bool        // a first flush has happened
	sent      *nflogEntry // last notification, nil if none
	inFlight  bool
	heapIdx   int
	slot      int // SlotOf(id): which replica flushes the group
}

func newGroup(id, key string, labels model.LabelSet, rt *dispatch.Route, now time.Time) *group {
	return &group{
		id: id, key: key, labels: labels, route: rt, opts: rt.RouteOpts,
		alerts:    map[model.Fingerprint]*alert.Alert{},
		createdAt: now,
		nextFlush: now.Add(rt.RouteOpts.GroupWait),
		heapIdx:   -1,
		slot:      SlotOf(id),
	}
}

// groupIdentity computes Alertmanager's group key for an alert on a route,
// and Klaxon's stable id for the group: the key and the receiver, hashed, so
// that a group survives a reload that leaves both unchanged.
func groupIdentity(rt *dispatch.Route, lset model.LabelSet) (id, key string, labels model.LabelSet) {
	labels = groupLabels(lset, &rt.RouteOpts)
	key = fmt.Sprintf("%s:%s", rt.Key(), labels)
	sum := sha256.Sum256([]byte(key + "\x00" + rt.RouteOpts.Receiver))
	return hex.EncodeToString(sum[:16]), key, labels
}

// groupLabels is Alertmanager's getGroupLabels.
func groupLabels(lset model.LabelSet, opts *dispatch.RouteOpts) model.LabelSet {
	out := model.LabelSet{}
	for ln, lv := range lset {
		if _, ok := opts.GroupBy[ln]; ok || opts.GroupByAll {
			out[ln] = lv
		}
	}
	return out
}

// insertGroups writes new groups (of distinct ids), storeBatch rows per
// statement: a burst of new alerts forms hundreds of groups at once.
func insertGroups(ctx context.Context, tx *storage.Tx, groups []*group) error {
	for chunk := range slices.Chunk(groups, storeBatch) {
		args := make([]any, 0, 8*len(chunk))
		for _, g := range chunk {
			lbl, err := marshalLabels(g.labels)
			if err != nil {
				return err
			}
			args = append(args, g.id, g.route.ID(), g.key, g.opts.Receiver, lbl,
				storage.Millis(g.createdAt), storage.Millis(g.nextFlush), g.flushed)
		}
		err := tx.ExecLater(ctx, `INSERT INTO alert_groups (id, route_id, group_key, receiver, labels, created_at, next_flush_at, flushed)
			VALUES `+storage.Values(len(chunk), 8)+`
			ON CONFLICT (id) DO UPDATE SET route_id = excluded.route_id`, args...)
		if err != nil {
			return fmt.Errorf("insert %d groups: %w", len(chunk), err)
		}
	}
	return nil
}

func (g *group) saveTimer(ctx context.Context, tx *storage.Tx) error {
	return tx.ExecLater(ctx, `UPDATE alert_groups SET next_flush_at = ?, flushed = ? WHERE id = ?`,
		storage.Millis(g.nextFlush), g.flushed, g.id)
}

func deleteGroup(ctx context.Context, tx *storage.Tx, id string) error {
	return tx.ExecLater(ctx, `DELETE FROM alert_groups WHERE id = ?`, id)
}

// schedule is a min-heap of groups by their next flush.
type schedule []*group

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].nextFlush.Before(s[j].nextFlush) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].heapIdx = i
	s[j].heapIdx = j
}

// Push implements heap.Interface.
func (s *schedule) Push(x any) {
	g := x.(*group)
	g.heapIdx = len(*s)
	*s = append(*s, g)
}

// Pop implements heap.Interface.
func (s *schedule) Pop() any {
	old := *s
	g := old[len(old)-1]
	old[len(old)-1] = nil
	g.heapIdx = -1
	*s = old[:len(old)-1]
	return g
}

// push adds g or moves it to its current place.
func (s *schedule) push(g *group) {
	if g.heapIdx >= 0 && g.heapIdx < len(*s) && (*s)[g.heapIdx] == g {
		heap.Fix(s, g.heapIdx)
		return
	}
	heap.Push(s, g)
}

func (s *schedule) remove(g *group) {
	if g.heapIdx >= 0 && g.heapIdx < len(*s) && (*s)[g.heapIdx] == g {
		heap.Remove(s, g.heapIdx)
	}
}

func (s schedule) peek() *group {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// upsert writes a group formed again after a flush dropped it: unlike
// insert, it replaces the timers of a row that the flush's clean-up has not
// deleted yet (that clean-up deletes only the row with the old creation
// time).
func (g *group) upsert(ctx context.Context, tx *storage.Tx) error {
	lbl, err := marshalLabels(g.labels)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO alert_groups (id, route_id, group_key, receiver, labels, created_at, next_flush_at, flushed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET route_id = excluded.route_id, created_at = excluded.created_at,
			next_flush_at = excluded.next_flush_at, flushed = excluded.flushed`,
		g.id, g.route.ID(), g.key, g.opts.Receiver, lbl,
		storage.Millis(g.createdAt), storage.Millis(g.nextFlush), g.flushed)
	if err != nil {
		return fmt.Errorf("store group %s: %w", g.key, err)
	}
	return nil
}
