package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/config"
	kstorage "github.com/klaxon-dev/klaxon/storage"
)

// Ingester is the router's one entry point for alerts.
type Ingester interface {
	Ingest(ctx context.Context, alerts []*alert.Alert) error
}

// Options are the evaluator's collaborators.
type Options struct {
	DB         *kstorage.DB
	Clock      clockwork.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Router     Ingester
	// WatchInterval is how often rule files are checked for changes;
	// default 10s.
	WatchInterval time.Duration
	// Query, if set, replaces the Prometheus HTTP client (tests).
	Query QueryFunc
}

// Manager loads rule files, evaluates their groups on the clock and
// feeds the alerts to the router, keeping alert state in the database.
type Manager struct {
	db      *kstorage.DB
	clock   clockwork.Clock
	logger  *slog.Logger
	router  Ingester
	metrics *metrics
	watch   time.Duration
	testQ   QueryFunc

	mu        sync.Mutex // serialises ApplyConfig and start/stop of groups
	cfg       *config.Config
	settings  *settings
	groups    map[string]*runningGroup
	files     map[string]*fileState
	order     []string // file paths in load order
	pathErrs  []error
	runCtx    context.Context
	restoreOK *bool
	downAt    time.Time // the evaluator's last heartbeat before this start
	loadedAt  time.Time // when alert state was read from the database
	lastBeat  atomic.Int64
	lease     lease
	stamp     string // fingerprint of the rule files, for the watcher
}

// settings are what every group of one configuration shares.
type settings struct {
	opts      *promrules.ManagerOptions
	build     buildInfo
	tolerance time.Duration
	grace     time.Duration
	sem       chan struct{}
	cfgKey    string
}

// buildInfo is what Build needs besides the group.
type buildInfo struct {
	defaultInterval time.Duration
	externalLabels  labels.Labels
	externalURL     string
	skipRecording   bool
}

type runningGroup struct {
	spec *Group
	// g is swapped by the group's own goroutine when it takes over from
	// another replica (refresh), and read by the API meanwhile.
	g         atomic.Pointer[promrules.Group]
	epoch     int64 // lease epoch whose database state g holds
	stop      chan struct{}
	done      chan struct{}
	persisted map[rowKey]alertRow // owned by the group's goroutine
}

type fileState struct {
	good  *File // last version without errors
	last  *File // last version read
	stamp string
}

// New returns a Manager; call ApplyConfig, then Run.
func New(opts Options) *Manager {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = 10 * time.Second
	}
	return &Manager{
		db: opts.DB, clock: opts.Clock, logger: opts.Logger, router: opts.Router, watch: opts.WatchInterval,
		testQ: opts.Query, metrics: newMetrics(opts.Registerer), lease: lease{owner: newOwnerID()},
		groups: map[string]*runningGroup{}, files: map[string]*fileState{},
	}
}

// newSettings builds the shared evaluation settings of cfg.
func (m *Manager) newSettings(cfg *config.Config) (*settings, error) {
	p := cfg.Prometheus
	extURL := p.ExternalURL
	if extURL == "" {
		extURL = p.URL
	}
	u, err := url.Parse(extURL)
	if err != nil {
		return nil, fmt.Errorf("prometheus.external_url: %w", err)
	}
	q := m.testQ
	if q == nil && p.URL != "" {
		if q, err = NewPrometheusQueryFunc(p); err != nil {
			return nil, err
		}
	}
	app, err := newAppendable(p.RemoteWrite, m.logger)
	if err != nil {
		return nil, err
	}
	s := &settings{
		build: buildInfo{
			defaultInterval: time.Duration(cfg.Rules.EvaluationInterval), externalLabels: labels.FromMap(p.ExternalLabels),
			externalURL: extURL, skipRecording: len(p.RemoteWrite) == 0,
		},
		tolerance: time.Duration(cfg.Rules.OutageTolerance),
		grace:     time.Duration(cfg.Rules.ForGracePeriod),
		sem:       make(chan struct{}, cfg.Rules.MaxConcurrentGroups),
		cfgKey:    fmt.Sprintf("%v|%v|%v|%s", cfg.Rules, p.URL, p.ExternalLabels, extURL) + fmt.Sprint(p.RemoteWrite),
	}
	offset := time.Duration(cfg.Rules.QueryOffset)
	s.opts = &promrules.ManagerOptions{
		ExternalURL: u, QueryFunc: m.countFailures(q), NotifyFunc: m.notify(s), Context: context.Background(),
		AppendableV2: app, Logger: m.logger, ResendDelay: time.Duration(cfg.Rules.ResendDelay),
		DefaultRuleQueryOffset: func() time.Duration { return offset }, Metrics: m.metrics.groups,
	}
	return s, nil
}

func (m *Manager) countFailures(q QueryFunc) QueryFunc {
	if q == nil {
		return func(context.Context, string, time.Time) (promql.Vector, error) {
			return nil, errors.New("no prometheus.url configured")
		}
	}
	return func(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
		v, err := q(ctx, expr, ts)
		if err != nil && ctx.Err() == nil {
			m.metrics.queryFailures.Inc()
		}
		return v, err
	}
}

// notify is the NotifyFunc: alerts go to the router in-process.
func (m *Manager) notify(s *settings) promrules.NotifyFunc {
	return func(ctx context.Context, expr string, as ...*promrules.Alert) {
		if len(as) == 0 || m.router == nil {
			return
		}
		if err := m.router.Ingest(ctx, toAlerts(expr, as, s.build.externalLabels, s.build.externalURL, m.clock.Now())); err != nil {
			m.metrics.ingestFailures.Inc()
			m.logger.Error("Sending alerts from rules to the router failed", "count", len(as), "err", err)
		}
	}
}

// ApplyConfig loads the configured rule files and swaps in their groups.
// Groups that did not change keep running; changed ones take over the
// alert state of their predecessor; a file that fails to load keeps its
// last good version and is reported. It fails only when the settings
// themselves are unusable.
func (m *Manager) ApplyConfig(ctx context.Context, cfg *config.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.newSettings(cfg)
	if err != nil {
		return err
	}
	m.cfg = cfg
	specs := m.loadFiles(cfg.Rules.Files)
	return m.swap(ctx, s, specs)
}

// loadFiles reads every file and returns the groups to run, using the
// last good version of files that fail.
func (m *Manager) loadFiles(entries []string) []*Group {
	paths, errs := ExpandPaths(entries)
	m.pathErrs = errs
	for _, e := range errs {
		m.logger.Error("Rule files not found", "err", e)
	}
	seen := map[string]bool{}
	var specs []*Group
	for _, p := range paths {
		seen[p] = true
		fs := m.files[p]
		if fs == nil {
			fs = &fileState{}
			m.files[p] = fs
		}
		f := LoadFile(p)
		fs.last, fs.stamp = f, fileStamp(p)
		ok := f.Err() == nil
		if ok {
			fs.good = f
		} else {
			m.logger.Error("Loading rule file failed; its last good version keeps evaluating", "file", p, "err", f.Err(), "has_last_good", fs.good != nil)
		}
		m.metrics.fileReloadOK.WithLabelValues(p).Set(b2f(ok))
		if fs.good != nil {
			for _, g := range fs.good.Groups {
				m.metrics.reloadOK.WithLabelValues(g.Key()).Set(b2f(ok))
			}
			specs = append(specs, fs.good.Groups...)
		}
	}
	for p := range m.files {
		if !seen[p] {
			delete(m.files, p)
			m.metrics.fileReloadOK.DeleteLabelValues(p)
		}
	}
	m.order = paths
	m.stamp = stampOf(paths)
	return specs
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// swap replaces the running groups with groups built from specs.
func (m *Manager) swap(ctx context.Context, s *settings, specs []*Group) error {
	restoreOK, err := m.mayRestore(ctx, s.tolerance)
	if err != nil {
		return err
	}
	next := map[string]*runningGroup{}
	var started []*runningGroup
	notRecorded := 0
	for _, spec := range specs {
		key := spec.Key()
		if _, dup := next[key]; dup {
			continue // the same file listed twice
		}
		g, err := Build(spec, s.build.defaultInterval, s.build.externalLabels, s.build.externalURL, s.opts, s.build.skipRecording)
		if err != nil {
			m.logger.Error("Building rule group failed", "group", key, "err", err)
			continue
		}
		notRecorded += countSkipped(g)
		old := m.groups[key]
		if old != nil && m.settings != nil && m.settings.cfgKey == s.cfgKey && old.g.Load().Equals(g) {
			next[key] = old // its spec is read by its goroutine: keep it
			delete(m.groups, key)
			continue
		}
		rg := &runningGroup{spec: spec}
		rg.g.Store(g)
		if old != nil {
			m.stopGroup(old)
			g.CopyState(old.g.Load())
			rg.persisted, rg.epoch = old.persisted, old.epoch
			delete(m.groups, key)
		} else if restoreOK {
			rows, err := loadGroup(ctx, m.db, key)
			if err != nil {
				return err
			}
			n := restore(ctx, g, rows, s.build, pendingAdjust{now: m.clock.Now(), downAt: m.downAt, grace: s.grace}, m.logger)
			m.metrics.restored.Add(float64(n))
			rg.persisted = rows
		}
		next[key] = rg
		started = append(started, rg)
	}
	for key, old := range m.groups {
		m.stopGroup(old)
		m.metrics.forget(key)
	}
	m.groups, m.settings = next, s
	m.metrics.notRecorded.Set(float64(notRecorded))
	keep := map[string]bool{}
	for k := range next {
		keep[k] = true
	}
	if err := deleteGroups(ctx, m.db, keep); err != nil {
		m.logger.Error("Forgetting state of removed rule groups failed", "err", err)
	}
	for _, rg := range started {
		m.startGroup(rg)
	}
	return nil
}

// mayRestore decides once, at the first configuration, whether stored
// alert state is recent enough to restore: after an outage longer than
// the tolerance state starts fresh, as in Prometheus.
func (m *Manager) mayRestore(ctx context.Context, tolerance time.Duration) (bool, error) {
	if m.restoreOK != nil {
		return *m.restoreOK, nil
	}
	last, err := lastBeat(ctx, m.db)
	if err != nil {
		return false, fmt.Errorf("read rule evaluator heartbeat: %w", err)
	}
	m.downAt, m.loadedAt = last, m.clock.Now()
	ok := !last.IsZero() && m.clock.Since(last) <= tolerance
	if !ok && !last.IsZero() {
		m.logger.Warn("Rule evaluator was down longer than rules.outage_tolerance; alert state starts fresh",
			"last_evaluation", last, "tolerance", tolerance)
		if err := deleteGroups(ctx, m.db, nil); err != nil {
			return false, err
		}
	}
	m.restoreOK = &ok
	return ok, nil
}

// Run evaluates the groups until ctx ends, and reloads the rule files
// when they change on disk.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.runCtx = ctx
	for _, rg := range m.groups {
		m.startGroup(rg)
	}
	m.mu.Unlock()
	t := m.clock.NewTicker(m.watch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			for _, rg := range m.groups {
				m.stopGroup(rg)
			}
			m.mu.Unlock()
			m.releaseLease()
			return
		case <-t.Chan():
			m.reloadIfChanged(ctx)
		}
	}
}

// reloadIfChanged reloads the rule files when any of them changed.
func (m *Manager) reloadIfChanged(ctx context.Context) {
	m.mu.Lock()
	cfg := m.cfg
	changed := cfg != nil && m.filesChanged(cfg.Rules.Files)
	m.mu.Unlock()
	if !changed {
		return
	}
	m.logger.Info("Rule files changed on disk, reloading")
	if err := m.ApplyConfig(ctx, cfg); err != nil {
		m.logger.Error("Reloading rule files failed", "err", err)
	}
}

// startGroup runs rg's evaluation loop if the manager is running.
func (m *Manager) startGroup(rg *runningGroup) {
	if m.runCtx == nil || rg.done != nil {
		return
	}
	rg.stop, rg.done = make(chan struct{}), make(chan struct{})
	go m.runGroup(m.runCtx, rg, m.settings)
}

// stopGroup stops rg and waits for an evaluation in progress.
func (m *Manager) stopGroup(rg *runningGroup) {
	if rg.done == nil {
		return
	}
	select {
	case <-rg.stop:
	default:
		close(rg.stop)
	}
	<-rg.done
}

// Groups returns the loaded groups, sorted by file and name, for the API.
func (m *Manager) Groups() []*promrules.Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*promrules.Group, 0, len(m.groups))
	for _, rg := range m.groups {
		out = append(out, rg.g.Load())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File() != out[j].File() {
			return out[i].File() < out[j].File()
		}
		return out[i].Name() < out[j].Name()
	})
	return out
}

// FileErrors returns the problems of files whose last reload failed.
func (m *Manager) FileErrors() []Diagnostic {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Diagnostic
	for _, p := range m.order {
		if f := m.files[p].last; f != nil {
			for _, d := range f.Diagnostics {
				if d.Severity == SeverityError {
					out = append(out, d)
				}
			}
		}
	}
	for _, e := range m.pathErrs {
		out = append(out, Diagnostic{Severity: SeverityError, Message: e.Error()})
	}
	return out
}
