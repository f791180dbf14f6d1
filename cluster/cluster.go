// Package cluster lets several Klaxon replicas share one PostgreSQL
// database without a protocol of their own: each replica announces itself
// with a heartbeat row, and the hash slots over which alert groups are
// spread (router.Slots) are leased to replicas in a table, a fair share to
// each live replica. A replica that stops heart-beating loses its slots to
// the others once its lease ran out; a replica joining makes the others
// hand back what exceeds their new share.
//
// Times are the database's clock, so that replicas whose clocks differ
// still agree on whose lease ran out.
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/klaxon-dev/klaxon/storage"
)

// DefaultLease is how long a replica's slots stay its own without a
// heartbeat: a dead replica's groups are flushed elsewhere at most this
// long (plus one heartbeat interval) after it died.
const DefaultLease = 15 * time.Second

// Holder is the part of the router that flushes the groups of the slots
// this replica holds.
type Holder interface {
	// AcquireSlots is called after slots were leased to this replica,
	// before any of their groups may be flushed here.
	AcquireSlots(ctx context.Context, slots []int) error
	// ReleaseSlots is called before slots are handed back, and when they
	// were found taken over.
	ReleaseSlots(slots []int)
}

// Options configure a Member.
type Options struct {
	DB     *storage.DB
	Logger *slog.Logger
	// Registerer receives klaxon_cluster_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// Name and Address describe this replica in /api/v2/status.
	Name, Address string
	// Lease is how long slots stay leased without a heartbeat; zero means
	// DefaultLease. Heartbeats come every quarter of it.
	Lease time.Duration
	// Slots is how many slots there are (router.Slots).
	Slots int
	// ID identifies this replica (StableID); empty means a new random one.
	ID string
}

// Peer is a live replica.
type Peer struct {
	ID, Name, Address string
	StartedAt         time.Time
}

// Member is this replica's membership: its heartbeat and its slot leases.
type Member struct {
	db     *storage.DB
	logger *slog.Logger
	id     string
	name   string
	addr   string
	lease  time.Duration
	slots  int

	slotsHeld  prometheus.Gauge
	slotHeld   *prometheus.GaugeVec
	peersGauge prometheus.Gauge
	failures   prometheus.Counter

	mu      sync.Mutex
	started int64
	held    map[int]bool // leased and handed to the Holder
	pending map[int]bool // leased, not yet accepted by the Holder
	peers   []Peer
	target  int
	ok      bool // the last heartbeat succeeded
	// epoch changes whenever the live replicas seen by the heartbeats
	// change or a heartbeat fails (see Alone).
	epoch uint64
}

// New returns a member; Run makes it take part.
func New(opts Options) *Member {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Slots <= 0 {
		opts.Slots = 1
	}
	if opts.ID == "" {
		opts.ID = NewID()
	}
	m := &Member{
		db: opts.DB, logger: opts.Logger, id: opts.ID,
		name: opts.Name, addr: opts.Address, lease: opts.Lease, slots: opts.Slots,
		held: map[int]bool{}, pending: map[int]bool{},
	}
	f := promauto.With(opts.Registerer)
	m.slotsHeld = f.NewGauge(prometheus.GaugeOpts{
		Name: "klaxon_cluster_slots_held",
		Help: "Alert-group slots whose groups this replica flushes.",
	})
	m.slotHeld = f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "klaxon_cluster_slot_held",
		Help: "1 for each alert-group slot this replica holds.",
	}, []string{"slot"})
	m.peersGauge = f.NewGauge(prometheus.GaugeOpts{
		Name: "klaxon_cluster_peers",
		Help: "Live replicas sharing the database, this one included.",
	})
	m.failures = f.NewCounter(prometheus.CounterOpts{
		Name: "klaxon_cluster_heartbeat_failures_total",
		Help: "Heartbeats that could not reach the database.",
	})
	return m
}

// ID is this replica's id, new for every process.
func (m *Member) ID() string { return m.id }

// SetAddress names this replica for /api/v2/status, when its address is
// known only once it listens (a port chosen by the system). Call it before
// Run.
func (m *Member) SetAddress(name, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.name, m.addr = name, addr
}

// Lease is the configured lease.
func (m *Member) Lease() time.Duration { return m.lease }

// Holds reports, inside tx, whether this replica still holds slot. The row
// is locked FOR KEY SHARE until tx ends: a heartbeat's renewal or release
// does not wait for it, but another replica's takeover (FOR UPDATE) does,
// so that whatever tx records is committed before the new holder reads it.
func (m *Member) Holds(ctx context.Context, tx *storage.Tx, slot int) (bool, error) {
	var owner string
	err := tx.QueryRow(ctx, `SELECT owner FROM cluster_slots WHERE slot = ? FOR KEY SHARE`, slot).Scan(&owner)
	if err != nil {
		return false, fmt.Errorf("read lease of slot %d: %w", slot, err)
	}
	return owner == m.id, nil
}

// HoldsLater is Holds for a transaction that reads something next anyway:
// the lease is read, and locked, with that statement
// (storage.Tx.QueryRowLater), and check reports the answer, sending the
// query first if nothing has yet.
func (m *Member) HoldsLater(ctx context.Context, tx *storage.Tx, slot int) (check func() (bool, error), err error) {
	var owner string
	l, err := tx.QueryRowLater(ctx, []any{&owner}, `SELECT owner FROM cluster_slots WHERE slot = ? FOR KEY SHARE`, slot)
	if err != nil {
		return nil, fmt.Errorf("read lease of slot %d: %w", slot, err)
	}
	return func() (bool, error) {
		if err := l.Wait(ctx); err != nil {
			return false, fmt.Errorf("read lease of slot %d: %w", slot, err)
		}
		return owner == m.id, nil
	}, nil
}

// Peers returns the live replicas as of the last heartbeat, by id.
func (m *Member) Peers() []Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.peers)
}

// Alone reports whether this replica was the only live one at its last
// heartbeat that read them, and an epoch that changes whenever the live
// replicas seen by the heartbeats change or a heartbeat fails. A replica
// that was alone at two calls returning the same epoch was alone in
// between, as far as the heartbeats can tell: one that announced itself
// meanwhile stays listed for a lease, longer than between two heartbeats.
// Before the first heartbeat the replica counts as alone (the epoch does
// not change if the first one finds it so), so that the state read at
// start-up counts as read alone.
func (m *Member) Alone() (alone bool, epoch uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.peers == nil && m.epoch == 0 {
		return true, 0 // no heartbeat yet, none failed
	}
	return len(m.peers) == 1 && m.peers[0].ID == m.id, m.epoch
}

// samePeersLocked reports whether peers are the replicas seen last; before
// the first heartbeat, that is this replica alone.
func (m *Member) samePeersLocked(peers []Peer) bool {
	if m.peers == nil {
		return len(peers) == 1 && peers[0].ID == m.id
	}
	return slices.EqualFunc(m.peers, peers, func(a, b Peer) bool { return a.ID == b.ID })
}

// Settled reports whether this replica holds its fair share of the slots
// and its last heartbeat reached the database.
func (m *Member) Settled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ok && len(m.pending) == 0 && len(m.held) == m.target
}

// Held returns the slots this replica holds, in order.
func (m *Member) Held() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.held)
}

// Run heart-beats every quarter lease until ctx ends, then hands this
// replica's slots back so that the others take them over at once.
func (m *Member) Run(ctx context.Context, h Holder) {
	interval := m.lease / 4
	failing := false
	for {
		err := m.Heartbeat(ctx, h)
		switch {
		case err != nil && ctx.Err() == nil:
			m.failures.Inc()
			if !failing {
				m.logger.Warn("Cluster heartbeat failed; will retry", "err", err)
			}
			failing = true
		case err == nil && failing:
			failing = false
			m.logger.Info("Cluster heartbeat works again", "slots", len(m.Held()))
		}
		select {
		case <-ctx.Done():
			leaveCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m.Leave(leaveCtx, h)
			cancel()
			return
		case <-time.After(interval):
		}
	}
}

// dbNow reads the database's clock in milliseconds.
func (m *Member) dbNow(ctx context.Context) (int64, error) {
	var now int64
	err := m.db.QueryRow(ctx, `SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)`).Scan(&now)
	return now, err
}

// Heartbeat is one round: announce this replica, renew its leases, hand
// back slots beyond its fair share or claim free and expired ones up to
// it, and give newly leased slots to h.
func (m *Member) Heartbeat(ctx context.Context, h Holder) (err error) {
	defer func() {
		m.mu.Lock()
		m.ok = err == nil
		if err != nil {
			// Replicas may come and go unseen while heartbeats fail.
			m.epoch++
		}
		m.mu.Unlock()
	}()
	now, err := m.dbNow(ctx)
	if err != nil {
		return fmt.Errorf("read database clock: %w", err)
	}
	until := now + m.lease.Milliseconds()
	if m.started == 0 {
		if _, err := m.db.Exec(ctx, `INSERT INTO cluster_slots (slot, owner, expires_at)
			SELECT s, '', 0 FROM generate_series(0, ? - 1) AS s ON CONFLICT (slot) DO NOTHING`, m.slots); err != nil {
			return fmt.Errorf("create slots: %w", err)
		}
		m.started = now
	}
	m.mu.Lock()
	name, addr := m.name, m.addr
	m.mu.Unlock()
	_, err = m.db.Exec(ctx, `INSERT INTO cluster_replicas (id, name, address, started_at, heartbeat_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`,
		m.id, name, addr, m.started, now, until)
	if err != nil {
		return fmt.Errorf("announce replica: %w", err)
	}
	peers, err := m.livePeers(ctx, now)
	if err != nil {
		return err
	}
	// Replicas dead for long are forgotten; a restarted one has a new id.
	if _, err := m.db.Exec(ctx, `DELETE FROM cluster_replicas WHERE expires_at < ?`, now-10*m.lease.Milliseconds()); err != nil {
		return fmt.Errorf("forget dead replicas: %w", err)
	}
	target := fairShare(m.slots, peers, m.id)

	leased, err := m.slotList(ctx, `UPDATE cluster_slots SET expires_at = ? WHERE owner = ? RETURNING slot`, until, m.id)
	if err != nil {
		return fmt.Errorf("renew slot leases: %w", err)
	}
	m.mu.Lock()
	if !m.samePeersLocked(peers) {
		m.epoch++
	}
	m.peers, m.target = peers, target
	m.mu.Unlock()
	m.peersGauge.Set(float64(len(peers)))
	m.forgetLost(leased, h)
	if err := m.adopt(ctx, leased); err != nil {
		return err
	}

	switch {
	case len(leased) > target:
		extra := leased[target:]
		m.drop(extra, h)
		if _, err := m.db.Exec(ctx, `UPDATE cluster_slots SET owner = '', expires_at = ? WHERE owner = ? AND slot IN (`+placeholders(len(extra))+`)`,
			append([]any{now, m.id}, intsToAny(extra)...)...); err != nil {
			return fmt.Errorf("hand back slots: %w", err)
		}
		m.logger.Info("Handed back slots beyond this replica's share", "slots", len(extra), "share", target, "replicas", len(peers))
	default:
		claimed, err := m.claim(ctx, now, until, max(target-len(leased), 0))
		if err != nil {
			return err
		}
		if len(claimed) > 0 {
			m.logger.Info("Claimed slots", "slots", len(claimed), "share", target, "replicas", len(peers))
		}
	}
	return m.hand(ctx, h)
}

// claim leases up to want free or expired slots to this replica; and
// every slot nobody renewed for two leases whatever the share (its holder
// gone, the others at their share by their own count), so that no slot
// stays orphaned. A slot whose lease row is locked by a flush of its
// holder in progress is skipped (FOR UPDATE waits for the holder's FOR KEY
// SHARE), and taken on a later round, after that flush committed.
func (m *Member) claim(ctx context.Context, now, until int64, want int) ([]int, error) {
	claimed, err := m.slotList(ctx, `UPDATE cluster_slots SET owner = ?, expires_at = ?
		WHERE slot IN (SELECT slot FROM cluster_slots WHERE owner <> ? AND expires_at < ? FOR UPDATE SKIP LOCKED)
		RETURNING slot`, m.id, until, m.id, now-2*m.lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim orphaned slots: %w", err)
	}
	if want -= len(claimed); want > 0 {
		more, err := m.slotList(ctx, `UPDATE cluster_slots SET owner = ?, expires_at = ?
			WHERE slot IN (SELECT slot FROM cluster_slots WHERE owner <> ? AND (owner = '' OR expires_at < ?)
				ORDER BY slot LIMIT ? FOR UPDATE SKIP LOCKED)
			RETURNING slot`, m.id, until, m.id, now, want)
		if err != nil {
			m.addPending(claimed)
			return nil, fmt.Errorf("claim slots: %w", err)
		}
		claimed = append(claimed, more...)
	}
	m.addPending(claimed)
	return claimed, nil
}

// adopt takes in charge the slots leased to this replica's id that it did
// not claim itself: those of its previous process, after a crash and a
// restart on the same storage directory (StableID). Locking their rows
// first waits for any transaction of that process still open, a flush
// among them, to end, so that the notification log read next is final.
func (m *Member) adopt(ctx context.Context, leased []int) error {
	m.mu.Lock()
	var orphans []int
	for _, s := range leased {
		if !m.held[s] && !m.pending[s] {
			orphans = append(orphans, s)
		}
	}
	m.mu.Unlock()
	if len(orphans) == 0 {
		return nil
	}
	err := m.db.InTx(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(ctx, `SELECT slot FROM cluster_slots WHERE owner = ? FOR UPDATE`, m.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("take slots back: %w", err)
	}
	m.logger.Info("Took back the slots of this replica's previous process", "slots", len(orphans))
	m.addPending(orphans)
	return nil
}

func (m *Member) addPending(slots []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range slots {
		if !m.held[s] {
			m.pending[s] = true
		}
	}
}

// hand gives the slots leased since the last round to h.
func (m *Member) hand(ctx context.Context, h Holder) error {
	m.mu.Lock()
	pending := sortedKeys(m.pending)
	m.mu.Unlock()
	if len(pending) == 0 {
		m.publish()
		return nil
	}
	if err := h.AcquireSlots(ctx, pending); err != nil {
		// The leases are renewed meanwhile; the next round tries again.
		return fmt.Errorf("take over slots: %w", err)
	}
	m.mu.Lock()
	for _, s := range pending {
		delete(m.pending, s)
		m.held[s] = true
		m.slotHeld.WithLabelValues(strconv.Itoa(s)).Set(1)
	}
	m.mu.Unlock()
	m.publish()
	return nil
}

func (m *Member) publish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slotsHeld.Set(float64(len(m.held)))
}

// forgetLost stops flushing the slots that another replica took over
// while this one's lease had run out (it could not reach the database).
func (m *Member) forgetLost(leased []int, h Holder) {
	in := map[int]bool{}
	for _, s := range leased {
		in[s] = true
	}
	m.mu.Lock()
	var lost []int
	for s := range m.held {
		if !in[s] {
			lost = append(lost, s)
		}
	}
	for s := range m.pending {
		if !in[s] {
			delete(m.pending, s)
		}
	}
	m.mu.Unlock()
	if len(lost) > 0 {
		m.logger.Warn("Slots were taken over by another replica", "slots", len(lost))
		m.drop(lost, h)
	}
}

// drop stops flushing slots here, before their leases are handed back.
func (m *Member) drop(slots []int, h Holder) {
	h.ReleaseSlots(slots)
	m.mu.Lock()
	for _, s := range slots {
		delete(m.held, s)
		delete(m.pending, s)
		m.slotHeld.DeleteLabelValues(strconv.Itoa(s))
	}
	m.mu.Unlock()
	m.publish()
}

// Leave hands every slot back and removes this replica's heartbeat, so
// that the others take over without waiting for the lease to run out.
func (m *Member) Leave(ctx context.Context, h Holder) {
	m.mu.Lock()
	all := append(sortedKeys(m.held), sortedKeys(m.pending)...)
	m.mu.Unlock()
	m.drop(all, h)
	now, err := m.dbNow(ctx)
	if err == nil {
		_, err = m.db.Exec(ctx, `UPDATE cluster_slots SET owner = '', expires_at = ? WHERE owner = ?`, now, m.id)
	}
	if err == nil {
		_, err = m.db.Exec(ctx, `DELETE FROM cluster_replicas WHERE id = ?`, m.id)
	}
	if err != nil {
		m.logger.Warn("Leaving the cluster failed; the others take over when the lease runs out", "err", err)
	}
}

func (m *Member) livePeers(ctx context.Context, now int64) ([]Peer, error) {
	rows, err := m.db.Query(ctx, `SELECT id, name, address, started_at FROM cluster_replicas WHERE expires_at > ? ORDER BY id`, now)
	if err != nil {
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	defer rows.Close()
	var out []Peer
	for rows.Next() {
		var (
			p       Peer
			started int64
		)
		if err := rows.Scan(&p.ID, &p.Name, &p.Address, &started); err != nil {
			return nil, err
		}
		p.StartedAt = storage.Time(started)
		out = append(out, p)
	}
	return out, rows.Err()
}

func (m *Member) slotList(ctx context.Context, q string, args ...any) ([]int, error) {
	rows, err := m.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var s int
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// fairShare is how many slots replica id should hold: slots / live
// replicas, the remainder going one each to the first replicas by id. A
// replica that does not see itself among the live ones (its own heartbeat
// not yet visible) counts itself in.
func fairShare(slots int, peers []Peer, id string) int {
	ids := make([]string, 0, len(peers)+1)
	for _, p := range peers {
		ids = append(ids, p.ID)
	}
	if !slices.Contains(ids, id) {
		ids = append(ids, id)
		slices.Sort(ids)
	}
	n := len(ids)
	share := slots / n
	if slices.Index(ids, id) < slots%n {
		share++
	}
	return share
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func placeholders(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}

func intsToAny(s []int) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
