// Package router ingests alerts, routes them through Alertmanager's routing
// tree into aggregation groups, and flushes each group on Alertmanager's
// timers, remembering in the notification log what it flushed so that no
// group is notified twice for the same state, across reloads and restarts.
//
// Every way in (the API v2, the Alertmanager webhook, the rule evaluator)
// calls Router.Ingest; every flush goes to one Sink inside the transaction
// that records it.
package router

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/storage"
)

// Reason says why a group is notified; a Sink may treat a mere repeat
// differently from a change (an acknowledged incident is not re-paged).
type Reason string

// Reasons a flush produces a notification.
const (
	ReasonFirst    Reason = "first"    // the group's first notification
	ReasonNew      Reason = "new"      // an alert joined the firing set
	ReasonResolved Reason = "resolved" // alerts resolved
	ReasonRepeat   Reason = "repeat"   // nothing changed; repeat_interval passed
)

// Notification is one flush of one group to its receiver.
type Notification struct {
	GroupID     string
	GroupKey    string
	Receiver    string
	GroupLabels model.LabelSet
	// Alerts are copies as of At: firing alerts have a zero EndsAt, so that
	// they do not resolve while the notification waits to be sent.
	Alerts []*alert.Alert
	Reason Reason
	At     time.Time
}

// Firing reports whether any alert in n is firing.
func (n *Notification) Firing() bool {
	for _, a := range n.Alerts {
		if !a.ResolvedAt(n.At) {
			return true
		}
	}
	return false
}

// Sink receives each notification inside the transaction that records it
// in the notification log. It returns false to suppress the notification
// (for example a repeat of an acknowledged incident); the log is then not
// updated, so the decision is taken again on the next tick.
type Sink interface {
	Flush(ctx context.Context, tx *storage.Tx, n *Notification) (notified bool, err error)
}

// Options are the router's collaborators.
type Options struct {
	DB         *storage.DB
	Clock      clockwork.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Sink       Sink
	// AfterCommit, if set, runs after a flush was committed with at least
	// one notification, to wake the delivery workers without polling.
	AfterCommit func()
	// Fence, when set, makes the router one replica of several sharing
	// the database: it flushes only the groups of the slots it was given
	// (AcquireSlots) and keeps its alerts in step with the table (Sync).
	Fence Fence
}

// Router owns the alerts, the groups and their timers.
type Router struct {
	db          *storage.DB
	clock       clockwork.Clock
	logger      *slog.Logger
	sink        Sink
	afterCommit func()
	metrics     *metrics
	fence       Fence

	// commitMu serializes writers of alerts and groups (the committer of
	// each ingest batch, ApplyConfig, Load), so that r.mu is not held
	// while a batch is written; queue holds the ingests waiting for the
	// next batch.
	commitMu sync.Mutex
	qmu      sync.Mutex
	queue    []*ingestReq
	// lazy holds re-sent alerts whose only change was a later endsAt, not
	// yet written (under r.mu); lazyTimer looks at them every
	// lazyWriteDelay and writes those whose stored endsAt comes close (see
	// lazySafety), if no ingest batch wrote them before.
	lazy      map[model.Fingerprint]lazyExt
	lazyTimer clockwork.Timer

	mu     sync.Mutex
	tree   *dispatch.Route
	sendRs map[string]bool // receiver -> any integration sends resolved
	alerts map[model.Fingerprint]*alert.Alert
	groups map[string]*group
	nflog  map[string]*nflogEntry // group id -> last notification
	// silences by id, expired ones included until their retention ends.
	silences   map[string]*Silence
	silenceIdx *silenceIndex
	silVer     silenceVersion // of the table, when last read
	silChecked time.Time      // when a flush last compared silVer; zero after a silence write
	inhibit    *inhibitor
	intervals  *timeinterval.Intervener
	sched      schedule
	wake       chan struct{}
	groupIDs   groupIDs // groupIdentity's results, for the ingest path
	held       []bool   // by slot, when clustered: the slots this replica flushes
	// syncGone, under commitMu, holds the alerts the last Sync found
	// missing from the table (router/sync.go).
	syncGone map[model.Fingerprint]*alert.Alert
	lastSync syncState // under r.mu

	// flushQ holds the groups due and not yet taken by a flusher (under
	// r.mu); flushers counts the flusher goroutines running,
	// immediateFlusher whether the one for immediate groups runs.
	flushQ           []*group
	flushers         int
	immediateFlusher bool
	flushing         sync.WaitGroup
	// active counts flushes from start to the end of their database
	// clean-up, so that tests can tell when the router is at rest.
	active  atomic.Int64
	started bool
	// running is set while Run flushes: ingest flushes immediate groups
	// itself only then (router/inline.go).
	running bool
}

// New returns a router; call ApplyConfig and Run before ingesting.
func New(opts Options) *Router {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Router{
		db:          opts.DB,
		clock:       opts.Clock,
		logger:      opts.Logger,
		sink:        opts.Sink,
		afterCommit: opts.AfterCommit,
		metrics:     newMetrics(opts.Registerer),
		fence:       opts.Fence,
		held:        make([]bool, Slots),
		alerts:      map[model.Fingerprint]*alert.Alert{},
		lazy:        map[model.Fingerprint]lazyExt{},
		groups:      map[string]*group{},
		nflog:       map[string]*nflogEntry{},
		silences:    map[string]*Silence{},
		silenceIdx:  newSilenceIndex(),
		inhibit:     newInhibitor(nil),
		intervals:   timeinterval.NewIntervener(nil),
		wake:        make(chan struct{}, 1),
	}
}

// ApplyConfig swaps in a new routing tree. Alerts are routed again; groups
// that still exist keep their timers and notification log, groups that no
// longer exist are dropped, new ones start waiting group_wait.
func (r *Router) ApplyConfig(ctx context.Context, cfg *amconfig.Config) error {
	tree := dispatch.NewRoute(cfg.Route, nil)
	sendRs := map[string]bool{}
	for _, rc := range cfg.Receivers {
		sendRs[rc.Name] = sendsResolved(rc)
	}
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tree = tree
	r.sendRs = sendRs
	r.intervals = newIntervener(cfg)
	r.inhibit = newInhibitor(cfg.InhibitRules)
	for _, a := range r.alerts {
		r.inhibit.set(a)
	}
	if !r.started {
		return nil
	}
	return r.regroupLocked(ctx)
}

func sendsResolved(rc amconfig.Receiver) bool {
	for _, c := range rc.WebhookConfigs {
		if c.SendResolved() {
			return true
		}
	}
	for _, c := range rc.EmailConfigs {
		if c.SendResolved() {
			return true
		}
	}
	for _, c := range rc.SlackConfigs {
		if c.SendResolved() {
			return true
		}
	}
	for _, c := range rc.PagerdutyConfigs {
		if c.SendResolved() {
			return true
		}
	}
	return false
}

// overlaps reports whether two versions of one alert describe the same
// firing, which is when Alertmanager merges them instead of replacing.
func overlaps(old, a *alert.Alert) bool {
	return (a.EndsAt.After(old.StartsAt) && a.EndsAt.Before(old.EndsAt)) ||
		(a.StartsAt.After(old.StartsAt) && a.StartsAt.Before(old.EndsAt))
}

// regroupLocked routes every alert again after a configuration change.
func (r *Router) regroupLocked(ctx context.Context) error {
	now := r.clock.Now()
	old := r.groups
	r.groups = map[string]*group{}
	var created, kept []*group
	for _, a := range r.alerts {
		for _, rt := range r.tree.Match(a.Labels) {
			id, key, labels := r.groupIDs.identity(r.tree, rt, a.Labels)
			g := r.groups[id]
			if g == nil {
				if prev := old[id]; prev != nil {
					// As Alertmanager does on reload, the group's timer
					// starts again (group_wait, or at once for alerts
					// older than that); its notification log stays, so
					// the early flush notifies nothing already sent.
					g = prev
					g.route = rt
					g.opts = rt.RouteOpts
					g.alerts = map[model.Fingerprint]*alert.Alert{}
					g.flushed = false
					g.createdAt = now
					g.nextFlush = now.Add(rt.RouteOpts.GroupWait)
					kept = append(kept, g)
				} else {
					g = newGroup(id, key, labels, rt, now)
					created = append(created, g)
				}
				r.groups[id] = g
			}
			g.alerts[a.Fingerprint()] = a
			if !g.flushed && a.StartsAt.Add(g.opts.GroupWait).Before(now) {
				g.nextFlush = now
			}
		}
	}
	var dropped []string
	for id := range old {
		if _, ok := r.groups[id]; !ok {
			dropped = append(dropped, id)
		}
	}
	err := r.db.InTx(ctx, func(tx *storage.Tx) error {
		if err := insertGroups(ctx, tx, created); err != nil {
			return err
		}
		for _, id := range dropped {
			if err := deleteGroup(ctx, tx, id); err != nil {
				return err
			}
		}
		for _, g := range kept {
			if err := g.saveTimer(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("regroup alerts: %w", err)
	}
	r.sched = schedule{}
	for _, g := range r.groups {
		r.sched.push(g)
	}
	r.kick()
	return nil
}

func (r *Router) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}
