package notifiers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/storage"
)

// Outcomes of one delivery attempt, as reported in Result.Outcome and in the
// result label of klaxon_notifications_total.
const (
	OutcomeSent    = "sent"    // the integration accepted the message
	OutcomeRetry   = "retry"   // a retryable error; the row waits for its next attempt
	OutcomeFailed  = "failed"  // a permanent error; the row is given up
	OutcomeSkipped = "skipped" // nothing to send (all alerts resolved, send_resolved: false)
)

// Statuses of an outbox row. pending and sending rows are live; the others
// are final.
const (
	statusPending    = "pending"
	statusSending    = "sending"
	statusSent       = "sent"
	statusSkipped    = "skipped"
	statusFailed     = "failed"
	statusSuperseded = "superseded"
)

// ErrUnknownReceiver is returned by Enqueue for a receiver the applied
// configuration does not have.
var ErrUnknownReceiver = errors.New("unknown receiver")

// BuildFunc builds the integrations of one receiver from its Alertmanager
// configuration, in the order Alertmanager would notify them. Integrations
// import this package for Message, so this package cannot import them; the
// standard BuildFunc is receiver.Build in package notifiers/receiver.
type BuildFunc func(rc *amconfig.Receiver, tmpl *template.Template, logger *slog.Logger) ([]Integration, error)

// OutboxOptions are the outbox's collaborators and tuning.
type OutboxOptions struct {
	// DB is the store holding the outbox table; required.
	DB *storage.DB
	// Clock drives polling, backoff and leases; nil means the real clock.
	Clock clockwork.Clock
	// Logger nil discards logs.
	Logger *slog.Logger
	// Registerer receives the outbox's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Build turns a receiver's configuration into integrations; required
	// by ApplyConfig.
	Build BuildFunc
	// ExternalURL is Klaxon's own URL as templates see it (.ExternalURL).
	ExternalURL *url.URL
	// Resolve, if set, finds receivers the applied configuration does not
	// name (see ResolveFunc).
	Resolve ResolveFunc
	// Workers bounds the sends in flight; default 4.
	Workers int
	// MaxPerReceiver bounds the sends in flight to one receiver, so that a
	// slow or rate-limited receiver cannot hold every worker. Default half
	// the workers, at least 1.
	MaxPerReceiver int
	// Lease is how long a claimed row belongs to its worker. A row whose
	// lease expired is claimed again, so a crash between sending and
	// recording repeats a send rather than losing it. Default 1m.
	Lease time.Duration
	// SendTimeout bounds one attempt. Default, and at most, half the lease,
	// so that an attempt is recorded before another replica may take over.
	SendTimeout time.Duration
	// Retention is how long finished rows and provider message references
	// are kept (see Prune); default DefaultRetention.
	Retention time.Duration
	// OnResult, if set, is called with each attempt's result inside the
	// transaction that records it; an error rolls the record back, and the
	// row is attempted again when its lease expires.
	OnResult func(ctx context.Context, tx *storage.Tx, r Result) error
}

// Result is the outcome of one delivery attempt of one outbox row.
type Result struct {
	OutboxID    int64
	IncidentID  int64
	Receiver    string
	Integration string
	Index       int
	// Attempt counts from 1 and includes attempts lost to a crash.
	Attempt int
	// Outcome is one of OutcomeSent, OutcomeRetry, OutcomeFailed and
	// OutcomeSkipped.
	Outcome string
	// Err is the attempt's error, its text free of URLs and credentials.
	Err error
	At  time.Time
}

// Outbox stores notifications durably and delivers them with retries. Rows
// are written in the caller's transaction by Enqueue and sent by Run, on
// any replica sharing the database.
type Outbox struct {
	db          *storage.DB
	clock       clockwork.Clock
	logger      *slog.Logger
	build       BuildFunc
	resolve     ResolveFunc
	externalURL *url.URL
	workers     int
	perReceiver int
	lease       time.Duration
	sendTimeout time.Duration
	retention   time.Duration
	onResult    func(ctx context.Context, tx *storage.Tx, r Result) error
	metrics     *metrics

	world atomic.Pointer[world]
	poke  chan struct{}

	busyMu sync.Mutex
	busy   map[string]int // receiver -> sends in flight on this replica
	inUse  int            // workers busy or reserved on this replica

	// runMu guards running and sends' entry into inflight: a send handed
	// over by a committing transaction (Enqueue) starts only while Run
	// runs, and Run waits for every send started.
	runMu    sync.Mutex
	running  bool
	runCtx   context.Context
	inflight sync.WaitGroup
}

// world is the integrations of one applied configuration, replaced whole
// on reload, and of the receivers resolved under it (resolve.go).
type world struct {
	receivers map[string][]Integration
	cfg       *config.Config
	tmpl      *template.Template

	mu       sync.Mutex
	resolved map[string][]Integration
}

// NewOutbox returns an outbox with no integrations; call ApplyConfig before
// Enqueue.
func NewOutbox(opts OutboxOptions) *Outbox {
	o := &Outbox{
		db: opts.DB, clock: opts.Clock, logger: opts.Logger, build: opts.Build, resolve: opts.Resolve,
		externalURL: opts.ExternalURL, workers: opts.Workers, perReceiver: opts.MaxPerReceiver, lease: opts.Lease,
		sendTimeout: opts.SendTimeout, onResult: opts.OnResult, retention: opts.Retention,
		metrics: newMetrics(opts.Registerer),
		poke:    make(chan struct{}, 1),
		busy:    map[string]int{},
	}
	if o.clock == nil {
		o.clock = clockwork.NewRealClock()
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.externalURL == nil {
		// Alertmanager's template data dereferences it.
		o.externalURL = &url.URL{}
	}
	if o.workers <= 0 {
		o.workers = 4
	}
	if o.perReceiver <= 0 {
		o.perReceiver = max(1, o.workers/2)
	}
	if o.lease <= 0 {
		o.lease = time.Minute
	}
	if o.retention <= 0 {
		o.retention = DefaultRetention
	}
	if o.sendTimeout <= 0 || o.sendTimeout > o.lease/2 {
		o.sendTimeout = o.lease / 2
	}
	return o
}

// ApplyConfig builds every receiver's integrations from cfg and swaps them
// in at once. If anything fails to build, it returns the error and keeps
// the previous integrations.
func (o *Outbox) ApplyConfig(cfg *config.Config) error {
	if o.build == nil {
		return errors.New("apply notifier configuration: OutboxOptions.Build is not set")
	}
	tmpl, err := template.FromGlobs(cfg.Alertmanager.Templates)
	if err != nil {
		return fmt.Errorf("load notification templates: %w", err)
	}
	tmpl.ExternalURL = o.externalURL
	w := &world{receivers: make(map[string][]Integration, len(cfg.Alertmanager.Receivers)), cfg: cfg, tmpl: tmpl,
		resolved: map[string][]Integration{}}
	for i := range cfg.Alertmanager.Receivers {
		rc := &cfg.Alertmanager.Receivers[i]
		integrations, err := o.build(rc, tmpl, o.logger.With("receiver", rc.Name))
		if err != nil {
			return fmt.Errorf("receiver %q: %w", rc.Name, err)
		}
		w.receivers[rc.Name] = integrations
	}
	o.world.Store(w)
	return nil
}

// Enqueue writes m, inside the caller's transaction, as one pending row per
// integration of m.Receiver; a receiver without integrations gets none.
// Rows of the same group and integration still waiting to be sent are
// marked superseded: m carries the group's whole current state. A row being
// sent is left alone and m is sent after it.
func (o *Outbox) Enqueue(ctx context.Context, tx *storage.Tx, m *Message) error {
	w := o.world.Load()
	if w == nil {
		return errors.New("enqueue notification: no notifier configuration applied")
	}
	integrations, ok, err := o.integrations(ctx, w, m.Receiver, true)
	if err != nil {
		return fmt.Errorf("enqueue notification: %w", err)
	}
	if !ok {
		// An error, not a silent drop: the caller retries its flush, by which
		// time a reload in progress has reached the outbox too.
		return fmt.Errorf("enqueue notification: %w %q", ErrUnknownReceiver, m.Receiver)
	}
	if len(integrations) == 0 {
		return nil
	}
	body, err := encodePayload(m)
	if err != nil {
		return fmt.Errorf("enqueue notification: encode message: %w", err)
	}
	now := o.clock.Now()
	gid := groupID(m.GroupKey)
	if tx.Dialect() == storage.Postgres && !tx.Relaxed() && o.isRunning() {
		// Transactions enqueueing for one group (a flush, an
		// acknowledgement) take turns, so that each sees whether the other
		// handed its notification over and keeps the group's order; on
		// SQLite writers take turns anyway.
		if err := tx.ExecLater(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, "klaxon-outbox:"+gid); err != nil {
			return fmt.Errorf("enqueue notification: %w", err)
		}
	}
	for _, in := range integrations {
		if isUpdate(m.Reason) && !in.Acks {
			continue
		}
		if err := tx.ExecLater(ctx, `UPDATE outbox SET status = ?
			WHERE group_id = ? AND receiver = ? AND integration = ? AND idx = ? AND status = ?`,
			statusSuperseded, gid, m.Receiver, in.Name, in.Index, statusPending); err != nil {
			return fmt.Errorf("enqueue notification: supersede older rows: %w", err)
		}
		r := row{incidentID: m.IncidentID, groupID: gid, receiver: m.Receiver, integration: in.Name, idx: in.Index, payload: body}
		handed, err := o.handOver(ctx, tx, &r, now)
		if err != nil {
			return fmt.Errorf("enqueue notification: %w", err)
		}
		if handed {
			continue
		}
		if err := tx.ExecLater(ctx, `INSERT INTO outbox (incident_id, group_id, receiver, integration, idx,
			payload, status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			r.incidentID, gid, r.receiver, r.integration, r.idx, body, statusPending, storage.Millis(now), storage.Millis(now)); err != nil {
			return fmt.Errorf("enqueue notification: insert row: %w", err)
		}
		// The workers look for the row as soon as it is there to find.
		tx.OnDone(o.pokeIfCommitted)
	}
	return nil
}

func (o *Outbox) pokeIfCommitted(committed bool) {
	if committed {
		o.Poke()
	}
}

// handOver writes r, when a worker is free for its receiver, already
// claimed by this replica, to be sent as soon as tx is durable: the send
// then waits for no claim, which would be one more transaction (and, on
// SQLite, one more sync of the disk) between an alert group's flush and
// its page. If an earlier notification of its group to the integration is
// still being sent, the same statement writes the row pending instead, to
// be claimed after that one. One statement whose row is read once it ran
// (QueryRowLater): on PostgreSQL it goes to the server with the commit.
// It reports false, writing nothing, when no worker is free.
func (o *Outbox) handOver(ctx context.Context, tx *storage.Tx, r *row, now time.Time) (bool, error) {
	// A relaxed transaction's commit is not durable when its hooks run:
	// its rows wait for a claim, which comes after.
	if tx.Relaxed() || !o.isRunning() || !o.takeSlot(r.receiver) {
		return false, nil
	}
	h := &handedOver{row: *r}
	h.attempts = 1
	_, err := tx.QueryRowLater(ctx, []any{&h.id, &h.status}, `INSERT INTO outbox (incident_id, group_id, receiver,
		integration, idx, payload, status, attempts, locked_until, next_attempt_at, created_at)
		SELECT CAST(? AS BIGINT), ?, ?, ?, CAST(? AS INTEGER), ?, CASE WHEN b.busy THEN ? ELSE ? END,
			CASE WHEN b.busy THEN 0 ELSE 1 END, CASE WHEN b.busy THEN 0 ELSE CAST(? AS BIGINT) END,
			CAST(? AS BIGINT), CAST(? AS BIGINT)
		FROM (SELECT EXISTS (SELECT 1 FROM outbox WHERE group_id = ? AND receiver = ? AND integration = ?
			AND idx = ? AND status = ?) AS busy) AS b
		RETURNING id, status`,
		r.incidentID, r.groupID, r.receiver, r.integration, r.idx, r.payload, statusPending, statusSending,
		storage.Millis(now.Add(o.lease)), storage.Millis(now), storage.Millis(now),
		r.groupID, r.receiver, r.integration, r.idx, statusSending)
	if err != nil {
		o.giveSlot(r.receiver)
		return false, fmt.Errorf("insert row: %w", err)
	}
	tx.OnDone(func(committed bool) {
		switch {
		case !committed:
			// There is no row.
			o.giveSlot(h.receiver)
		case h.status != statusSending:
			// Written pending, behind a notification being sent.
			o.giveSlot(h.receiver)
			o.Poke()
		case !o.start(h.row):
			// Committed but stopping: the lease expires and a worker
			// claims the row, as after a crash.
			o.giveSlot(h.receiver)
		}
	})
	return true, nil
}

// handedOver is a row written by handOver, with the status it was
// written in.
type handedOver struct {
	row
	status string
}

// Poke wakes the workers, e.g. after a transaction that enqueued rows has
// committed, so that delivery does not wait for the next poll.
func (o *Outbox) Poke() {
	select {
	case o.poke <- struct{}{}:
	default:
	}
}
