package notifiers

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

const (
	pollInterval = time.Second
	backoffStart = time.Second
	backoffCap   = 5 * time.Minute
	// maxRetryAfter bounds how long a Retry-After header can park a
	// notification; a page an hour late is already a failure.
	maxRetryAfter = time.Hour
	// recordTimeout bounds the transaction that records an attempt, which
	// also runs while shutting down.
	recordTimeout = 10 * time.Second
)

// row is a claimed outbox row.
type row struct {
	id, incidentID       int64
	groupID, receiver    string
	integration, payload string
	idx, attempts        int
}

// candidatesQuery finds due rows: pending ones whose time has come and
// sending ones whose worker's lease expired. Only the oldest live row of
// each (group, receiver, integration) qualifies, so a group's
// notifications reach an integration one at a time and in order. The
// first %s is SQLite's index hint (below); the second leaves out receivers
// that already use their share of this replica's workers; the third is the
// row-locking clause: PostgreSQL replicas skip each other's rows; SQLite
// has one writer.
//
// The live rows are walked in id order (index outbox_live) and the walk
// stops at the limit, with one index look-up (outbox_order) per row for an
// earlier live row of its group: a claim costs about as many look-ups as
// rows it looks at, not a sort of every row waiting, which matters when a
// thousand groups are notified at once and every finished send claims
// again. SQLite, without statistics, would rather sort.
const candidatesQuery = `SELECT o.id, o.receiver FROM outbox o %s
WHERE o.status IN ('pending', 'sending')
AND ((o.status = 'pending' AND o.next_attempt_at <= ?) OR (o.status = 'sending' AND o.locked_until < ?))
AND NOT EXISTS (
	SELECT 1 FROM outbox p
	WHERE p.group_id = o.group_id AND p.receiver = o.receiver
	AND p.integration = o.integration AND p.idx = o.idx
	AND p.id < o.id AND p.status IN ('pending', 'sending'))
%s
ORDER BY o.id LIMIT ? %s`

// claimQuery takes the candidates chosen, %s being their ids.
const claimQuery = `UPDATE outbox SET status = 'sending', locked_until = ?, attempts = attempts + 1
WHERE id IN (%s)
RETURNING id, incident_id, group_id, receiver, integration, idx, payload, attempts`

// candidatesPerSlot is how many candidates a claim looks at per free
// worker, so that rows of other receivers behind those of a receiver near
// its share are found in the same claim.
const candidatesPerSlot = 4

// Run delivers due rows until ctx is done, then waits for the sends in
// flight to finish and be recorded. It polls every second and whenever
// Poke is called.
func (o *Outbox) Run(ctx context.Context) {
	ticker := o.clock.NewTicker(pollInterval)
	defer ticker.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { o.pruneLoop(ctx) })
	o.runMu.Lock()
	// A send under way is finished and recorded even when shutting down;
	// cancelling it could leave a delivered page unrecorded.
	o.running, o.runCtx = true, context.WithoutCancel(ctx)
	o.runMu.Unlock()
	defer func() {
		o.runMu.Lock()
		o.running = false
		o.runMu.Unlock()
		o.inflight.Wait()
	}()
	for {
		o.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.Chan():
		case <-o.poke:
		}
	}
}

func (o *Outbox) isRunning() bool {
	o.runMu.Lock()
	defer o.runMu.Unlock()
	return o.running
}

// start sends claimed row r, whose worker slot is taken, unless Run has
// stopped; it reports whether it did.
func (o *Outbox) start(r row) bool {
	o.runMu.Lock()
	if !o.running {
		o.runMu.Unlock()
		return false
	}
	o.inflight.Add(1)
	ctx := o.runCtx
	o.runMu.Unlock()
	go func() {
		defer o.inflight.Done()
		o.deliver(ctx, r)
		o.giveSlot(r.receiver)
		o.Poke() // the group's next row may now be claimed
	}()
	return true
}

// poll claims as many due rows as there are free workers and starts them.
func (o *Outbox) poll(ctx context.Context) {
	// The gauge of pending rows is refreshed after the claim, not before:
	// a notification waits for no query it does not need.
	defer o.updatePending(ctx)
	free := o.freeSlots()
	if free == 0 {
		return
	}
	rows, err := o.claim(ctx, free, o.fullReceivers())
	if err != nil {
		if ctx.Err() == nil {
			o.logger.Error("Claiming outbox rows failed", "err", err)
		}
		return
	}
	for _, r := range rows {
		// A send handed over by a flush may have taken the slot since.
		if !o.takeSlot(r.receiver) {
			o.release(ctx, r)
			// Fill the slot now with another receiver's row; the next
			// claim leaves this receiver out.
			o.Poke()
			continue
		}
		if !o.start(r) {
			o.giveSlot(r.receiver)
			o.release(ctx, r)
		}
	}
}

// fullReceivers are the receivers whose sends in flight on this replica
// reached MaxPerReceiver: a slow or rate-limited receiver keeps at most its
// share of the workers, and the others' notifications pass it.
func (o *Outbox) fullReceivers() []string {
	o.busyMu.Lock()
	defer o.busyMu.Unlock()
	var out []string
	for rcv, n := range o.busy {
		if n >= o.perReceiver {
			out = append(out, rcv)
		}
	}
	slices.Sort(out)
	return out
}

func (o *Outbox) freeSlots() int {
	o.busyMu.Lock()
	defer o.busyMu.Unlock()
	return o.workers - o.inUse
}

// takeSlot reserves a worker for a send to receiver: false when every
// worker is busy or the receiver has its share.
func (o *Outbox) takeSlot(receiver string) bool {
	o.busyMu.Lock()
	defer o.busyMu.Unlock()
	if o.inUse >= o.workers || o.busy[receiver] >= o.perReceiver {
		return false
	}
	o.inUse++
	o.busy[receiver]++
	return true
}

func (o *Outbox) giveSlot(receiver string) {
	o.busyMu.Lock()
	defer o.busyMu.Unlock()
	o.inUse--
	if o.busy[receiver]--; o.busy[receiver] <= 0 {
		delete(o.busy, receiver)
	}
}

// release hands back a row claimed beyond its receiver's share, as if it
// had not been claimed; the next poll skips the receiver until a slot frees.
func (o *Outbox) release(ctx context.Context, r row) {
	_, err := o.db.Exec(ctx, `UPDATE outbox SET status = ?, attempts = attempts - 1, locked_until = 0
		WHERE id = ? AND status = ? AND attempts = ?`, statusPending, r.id, statusSending, r.attempts)
	if err != nil && ctx.Err() == nil {
		// The lease expires and the row is claimed again: late, not lost.
		o.logger.Warn("Releasing an outbox row failed", "outbox_id", r.id, "err", err)
	}
}

func (o *Outbox) updatePending(ctx context.Context) {
	var n int64
	err := o.db.QueryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE status IN (?, ?)`,
		statusPending, statusSending).Scan(&n)
	if err == nil {
		o.metrics.pending.Set(float64(n))
	}
}

func (o *Outbox) claim(ctx context.Context, limit int, skip []string) ([]row, error) {
	hint, lock := "INDEXED BY outbox_live", ""
	if o.db.Dialect() == storage.Postgres {
		hint, lock = "", "FOR UPDATE OF o SKIP LOCKED"
	}
	now := o.clock.Now()
	args := []any{storage.Millis(now), storage.Millis(now)}
	exclude := ""
	if len(skip) > 0 {
		exclude = "AND o.receiver NOT IN (?" + strings.Repeat(", ?", len(skip)-1) + ")"
		for _, rcv := range skip {
			args = append(args, rcv)
		}
	}
	args = append(args, limit*candidatesPerSlot)
	var rows []row
	// A transaction of its own: the claim writes, and writers take their
	// turn through InTx. It is relaxed: a claim lost in a power failure
	// leaves the row pending, to be claimed again as when a lease expires.
	err := o.db.InTxRelaxed(ctx, func(tx *storage.Tx) error {
		rows = rows[:0]
		ids, err := o.choose(ctx, tx, fmt.Sprintf(candidatesQuery, hint, exclude, lock), args, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		q := fmt.Sprintf(claimQuery, "?"+strings.Repeat(", ?", len(ids)-1))
		uargs := append([]any{storage.Millis(now.Add(o.lease))}, ids...)
		rs, err := tx.Query(ctx, q, uargs...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.id, &r.incidentID, &r.groupID, &r.receiver, &r.integration,
				&r.idx, &r.payload, &r.attempts); err != nil {
				return err
			}
			rows = append(rows, r)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no order; oldest first keeps sends roughly in order.
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.id, b.id) })
	return rows, nil
}

// choose reads the candidates, oldest first, and keeps up to limit of
// them, no receiver beyond its share of the workers: a row claimed only to
// be handed back would cost two more writes and another claim.
func (o *Outbox) choose(ctx context.Context, tx *storage.Tx, q string, args []any, limit int) ([]any, error) {
	rs, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	o.busyMu.Lock()
	taken := maps.Clone(o.busy)
	o.busyMu.Unlock()
	if taken == nil {
		taken = map[string]int{}
	}
	var ids []any
	for rs.Next() && len(ids) < limit {
		var (
			id  int64
			rcv string
		)
		if err := rs.Scan(&id, &rcv); err != nil {
			return nil, err
		}
		if taken[rcv] >= o.perReceiver {
			continue
		}
		taken[rcv]++
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

// deliver makes one attempt at r and records its outcome.
func (o *Outbox) deliver(ctx context.Context, r row) {
	outcome, m, err := o.attempt(ctx, r)
	res := Result{
		OutboxID: r.id, IncidentID: r.incidentID, Receiver: r.receiver,
		Integration: r.integration, Index: r.idx, Attempt: r.attempts,
		Outcome: outcome, Err: redact(err), At: o.clock.Now(),
	}
	o.record(ctx, r, res, retryAfter(err))
	o.observe(res, m)
}

// attempt sends r through its integration. m is nil if the payload could
// not be read.
func (o *Outbox) attempt(ctx context.Context, r row) (outcome string, m *Message, err error) {
	m, err = decodePayload(r)
	if err != nil {
		return OutcomeFailed, nil, fmt.Errorf("decode outbox payload: %w", err)
	}
	in, ok, err := o.integration(ctx, r.receiver, r.integration, r.idx)
	if err != nil {
		return OutcomeRetry, m, err
	}
	if !ok {
		return OutcomeFailed, m, fmt.Errorf("receiver %q has no %s integration #%d in the current configuration (removed by a reload?)",
			r.receiver, r.integration, r.idx)
	}
	if !in.SendResolved {
		m = withoutResolved(m)
		if len(m.Alerts) == 0 {
			return OutcomeSkipped, m, nil
		}
	}
	m.Thread = o.threadFor(r)
	sctx, cancel := context.WithTimeout(ctx, o.sendTimeout)
	defer cancel()
	retry, err := in.Notifier.Notify(sctx, m)
	switch {
	case err == nil:
		return OutcomeSent, m, nil
	case retry:
		return OutcomeRetry, m, err
	default:
		return OutcomeFailed, m, err
	}
}

// record writes res to r's row, and calls the OnResult hook, in one
// transaction. If r's lease was lost meanwhile (another worker reclaimed
// the row), the other worker's attempt is the one recorded.
func (o *Outbox) record(ctx context.Context, r row, res Result, wait time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	owned := false
	err := o.db.InTx(ctx, func(tx *storage.Tx) error {
		var err error
		if owned, err = o.update(ctx, tx, r, res, wait); err != nil || !owned {
			return err
		}
		if o.onResult != nil {
			return o.onResult(ctx, tx, res)
		}
		return nil
	})
	switch {
	case err != nil:
		o.logger.Error("Recording notification outcome failed; the row is retried when its lease expires",
			"outbox_id", r.id, "receiver", r.receiver, "integration", r.integration, "outcome", res.Outcome,
			"err", RedactError(err))
	case !owned:
		o.logger.Warn("Outbox row was reclaimed by another worker before its outcome was recorded",
			"outbox_id", r.id, "receiver", r.receiver, "integration", r.integration, "attempt", r.attempts)
	}
}

// update moves r's row to the state that follows res. It reports false,
// changing nothing, if the row is no longer this attempt's.
func (o *Outbox) update(ctx context.Context, tx *storage.Tx, r row, res Result, wait time.Duration) (bool, error) {
	at := storage.Millis(res.At)
	errText := RedactError(res.Err)
	var (
		set  string
		args []any
	)
	switch res.Outcome {
	case OutcomeSent:
		set, args = "status = ?, sent_at = ?, last_error = ''", []any{statusSent, at}
	case OutcomeSkipped:
		set, args = "status = ?, last_error = ''", []any{statusSkipped}
	case OutcomeRetry:
		status, err := o.retryStatus(ctx, tx, r)
		if err != nil {
			return false, err
		}
		next := res.At.Add(max(backoff(r.attempts), min(wait, maxRetryAfter)))
		set, args = "status = ?, next_attempt_at = ?, last_error = ?", []any{status, storage.Millis(next), errText}
	default:
		set, args = "status = ?, last_error = ?", []any{statusFailed, errText}
	}
	args = append(args, r.id, statusSending, r.attempts)
	result, err := tx.Exec(ctx, `UPDATE outbox SET `+set+`, locked_until = 0
		WHERE id = ? AND status = ? AND attempts = ?`, args...)
	if err != nil {
		return false, fmt.Errorf("record outcome of outbox row %d: %w", r.id, err)
	}
	n, err := result.RowsAffected()
	return n == 1, err
}

// retryStatus is pending, unless a newer notification for the same group
// and integration arrived while r was being sent: that one carries the
// group's current state, so r is superseded rather than retried.
func (o *Outbox) retryStatus(ctx context.Context, tx *storage.Tx, r row) (string, error) {
	var newer int
	err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM outbox
		WHERE group_id = ? AND receiver = ? AND integration = ? AND idx = ? AND id > ? AND status = ?`,
		r.groupID, r.receiver, r.integration, r.idx, r.id, statusPending).Scan(&newer)
	if err != nil {
		return "", fmt.Errorf("look for newer outbox rows: %w", err)
	}
	if newer > 0 {
		return statusSuperseded, nil
	}
	return statusPending, nil
}

// backoff is the wait after the n-th failed attempt: exponential from 1s,
// capped at 5m, with "equal jitter" so that replicas and groups retrying
// one endpoint spread out.
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt >= 1 && attempt < 20 {
		d = min(backoffStart<<(attempt-1), backoffCap)
	}
	return d/2 + rand.N(d/2+1)
}

// observe counts and logs an attempt, after it was recorded. Logs name the
// receiver and integration, never the integration's URL.
func (o *Outbox) observe(res Result, m *Message) {
	o.metrics.notifications.WithLabelValues(res.Integration, res.Receiver, res.Outcome).Inc()
	log := o.logger.With("outbox_id", res.OutboxID, "receiver", res.Receiver,
		"integration", res.Integration, "index", res.Index, "attempt", res.Attempt)
	switch res.Outcome {
	case OutcomeSent:
		if m != nil && !m.At.IsZero() {
			o.metrics.latency.WithLabelValues(res.Integration).Observe(res.At.Sub(m.At).Seconds())
		}
		log.Debug("Notification sent")
	case OutcomeSkipped:
		log.Debug("Notification skipped: only resolved alerts and send_resolved is false")
	case OutcomeRetry:
		log.Warn("Notification failed; will retry", "err", res.Err)
	default:
		log.Error("Notification failed permanently", "err", res.Err)
	}
}
