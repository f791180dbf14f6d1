package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	promrules "github.com/prometheus/prometheus/rules"
)

// runGroup evaluates one group on its schedule until stopped. The first
// evaluation is at the group's next slot, offset within the interval by a
// hash of its file and name, exactly as Prometheus spreads groups; missed
// slots are skipped and counted. All waiting is on the injected clock.
func (m *Manager) runGroup(ctx context.Context, rg *runningGroup, s *settings) {
	defer close(rg.done)
	g := rg.g.Load()
	itv := g.Interval()
	key := promrules.GroupKey(g.File(), g.Name())
	next := g.EvalTimestamp(m.clock.Now().UnixNano()).Add(itv)
	for {
		t := m.clock.NewTimer(next.Sub(m.clock.Now()))
		select {
		case <-rg.stop:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		}
		select {
		case s.sem <- struct{}{}:
		case <-rg.stop:
			return
		case <-ctx.Done():
			return
		}
		if missed := m.clock.Now().Sub(next) / itv; missed > 0 {
			m.metrics.groups.IterationsMissed.WithLabelValues(key).Add(float64(missed))
			m.metrics.groups.IterationsScheduled.WithLabelValues(key).Add(float64(missed))
			next = next.Add(missed * itv)
		}
		m.evalGroup(ctx, rg, s, next)
		<-s.sem
		next = next.Add(itv)
	}
}

// evalGroup runs one evaluation with Prometheus's iteration function,
// re-sends the firing alerts of rules whose query failed, and saves the
// group's alert state.
func (m *Manager) evalGroup(ctx context.Context, rg *runningGroup, s *settings, ts time.Time) {
	leader, epoch := m.leader(ctx)
	if !leader {
		return // another replica evaluates the rules
	}
	if rg.epoch != epoch {
		m.refresh(ctx, rg, s)
		rg.epoch = epoch
	}
	g := rg.g.Load()
	promrules.DefaultEvalIterationFunc(ctx, g, ts)
	m.keepFailedAlive(ctx, g, s, ts)
	cur := snapshot(g)
	key := promrules.GroupKey(g.File(), g.Name())
	if err := saveGroup(ctx, m.db, key, rg.persisted, cur); err != nil {
		m.metrics.saveFailures.Inc()
		m.logger.Error("Saving alert state failed", "group", key, "err", err)
	} else {
		rg.persisted = cur
	}
	now := m.clock.Now()
	if last := m.lastBeat.Load(); now.UnixMilli()-last >= (5 * time.Second).Milliseconds() {
		m.lastBeat.Store(now.UnixMilli())
		if err := beat(ctx, m.db, now); err != nil {
			m.logger.Error("Saving rule evaluator heartbeat failed", "err", err)
		}
	}
}

// keepFailedAlive re-sends, on the resend schedule, the firing alerts of
// rules whose evaluation failed. Prometheus keeps such alerts' state but
// stops sending them, so they time out downstream after 4 intervals and
// flap to resolved while Prometheus is unreachable; Klaxon keeps them
// firing until an evaluation says otherwise.
func (m *Manager) keepFailedAlive(ctx context.Context, g *promrules.Group, s *settings, ts time.Time) {
	resend := s.opts.ResendDelay
	for _, r := range g.Rules() {
		ar, ok := r.(*promrules.AlertingRule)
		if !ok || ar.Health() != promrules.HealthBad {
			continue
		}
		var send []*promrules.Alert
		ar.ForEachActiveAlert(func(a *promrules.Alert) {
			if a.State != promrules.StateFiring || !a.ResolvedAt.IsZero() || !a.LastSentAt.Add(resend).Before(ts) {
				return
			}
			a.LastSentAt = ts
			a.ValidUntil = ts.Add(4 * max(g.Interval(), resend))
			c := *a
			c.Labels = a.Labels.Copy()
			send = append(send, &c)
		})
		s.opts.NotifyFunc(ctx, ar.Query().String(), send...)
	}
}

// fileStamp fingerprints a file by size and modification time, cheaply
// enough to poll.
func fileStamp(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d/%d", st.Size(), st.ModTime().UnixNano())
}

func stampOf(paths []string) string {
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s=%s\n", p, fileStamp(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// filesChanged reports whether the set of rule files or any of them
// changed since the last load.
func (m *Manager) filesChanged(entries []string) bool {
	paths, _ := ExpandPaths(entries)
	return stampOf(paths) != m.stamp
}
