package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/klaxon-dev/klaxon/cluster"
	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/gctune"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/receiver"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/rules"
	"github.com/klaxon-dev/klaxon/storage"
	"github.com/klaxon-dev/klaxon/web"
)

type serveCmd struct {
	cmd          *kingpin.CmdClause
	configFile   *string
	storagePath  *string
	databaseURL  *string
	listen       *string
	externalURL  *string
	routePrefix  *string
	maxBody      *units.Base2Bytes
	notifyLease  *time.Duration
	clockOffset  *string
	cluster      map[string]*string
	clusterPeers *[]string
	clusterLease *time.Duration
	log          *promslog.Config
}

// clusterFlags are Alertmanager's gossip flags. Klaxon replicas share a
// database instead, so they are accepted, for drop-in use in existing unit
// files and pod specs, and ignored.
var clusterFlags = []string{
	"listen-address", "advertise-address", "peer-timeout", "gossip-interval", "pushpull-interval",
	"tcp-timeout", "probe-timeout", "probe-interval", "settle-timeout", "reconnect-interval",
	"reconnect-timeout", "tls-config", "label", "allow-insecure-public-advertise-address-discovery",
}

func newServeCmd(app *kingpin.Application) *serveCmd {
	c := &serveCmd{cmd: app.Command("serve", "Run the Klaxon server.").Default(), cluster: map[string]*string{}}
	c.configFile = c.cmd.Flag("config.file", "Klaxon configuration file (an alertmanager.yml plus Klaxon's own keys).").
		Default("klaxon.yml").String()
	c.storagePath = c.cmd.Flag("storage.path", "Directory of the embedded SQLite store (used without --database-url), and of this replica's id.").
		Default("data/").String()
	c.databaseURL = c.cmd.Flag("database-url", "PostgreSQL URL (postgres://user:pass@host/db); replaces the embedded store.").
		Envar("KLAXON_DATABASE_URL").String()
	c.listen = c.cmd.Flag("web.listen-address", "Address to listen on for the API, hooks and UI.").
		Default(":9093").String()
	c.externalURL = c.cmd.Flag("web.external-url", "The URL under which Klaxon is reachable from outside (links in notifications).").String()
	c.routePrefix = c.cmd.Flag("web.route-prefix", "Prefix for all HTTP paths. Defaults to the path of --web.external-url.").String()
	c.notifyLease = c.cmd.Flag("notifier.lease", "How long a notification being sent belongs to its replica; after a crash it is sent again once this passed.").
		Hidden().Default("1m").Duration()
	c.clockOffset = c.cmd.Flag("debug.clock-offset-file", "Test only: a file holding a duration (e.g. 5m30s) added to the clock; scenario tests move time forward by rewriting it.").
		Hidden().String()
	c.maxBody = c.cmd.Flag("web.max-request-body-size", "Largest accepted request body; larger ones get HTTP 413.").
		Default("16MiB").Bytes()
	for _, name := range clusterFlags {
		c.cluster[name] = c.cmd.Flag("cluster."+name, "Ignored: replicas coordinate through PostgreSQL.").Hidden().String()
	}
	c.clusterPeers = c.cmd.Flag("cluster.peer", "Ignored: replicas coordinate through PostgreSQL.").Hidden().Strings()
	c.clusterLease = c.cmd.Flag("cluster.lease-duration", "With PostgreSQL: how long a replica's share of the alert groups stays its own without a heartbeat; a dead replica's groups move to the others after this.").
		Default(cluster.DefaultLease.String()).Duration()
	c.log = &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat()}
	c.cmd.Flag(promslogflag.LevelFlagName, promslogflag.LevelFlagHelp).Default("info").SetValue(c.log.Level)
	c.cmd.Flag(promslogflag.FormatFlagName, promslogflag.FormatFlagHelp).Default("logfmt").SetValue(c.log.Format)
	return c
}

// defaultGOGC is the garbage collector's target when GOGC is not set.
// Klaxon's live heap is mostly the alerts it holds, long-lived; with Go's
// default of 100 the heap grows to twice that before a collection, and
// the process holds about three times it. 70 trades a little CPU for a
// sixth less memory at 100,000 alerts (BENCHMARKS.md), as Prometheus
// lowers its own default for the same reason.
//
// While the live heap is small, 70% of it is little room to allocate in:
// a burst of work (a thousand groups falling due together) then ran a
// collection every 70 ms, taking CPU and assists from the pages being
// sent meanwhile. The collector is given at least gcHeadroom between
// collections (internal/gctune), which changes nothing once the heap holds
// about 50 MB, as at 100,000 alerts.
const defaultGOGC = 70

// gcHeadroom is the least the heap may grow between collections when
// GOGC is not set.
const gcHeadroom = 32 << 20

func (c *serveCmd) run() int {
	if os.Getenv("GOGC") == "" {
		defer gctune.Start(defaultGOGC, gcHeadroom).Stop()
	}
	logger := promslog.New(c.log)
	slog.SetDefault(logger)
	if err := c.serve(logger); err != nil {
		logger.Error("Klaxon stopped", "err", err)
		return 1
	}
	return 0
}

func (c *serveCmd) warnIgnoredFlags(logger *slog.Logger) {
	for name, v := range c.cluster {
		if *v != "" {
			logger.Warn("Flag ignored: Klaxon replicas coordinate through the database, not gossip", "flag", "--cluster."+name)
		}
	}
	if len(*c.clusterPeers) > 0 {
		logger.Warn("Flag ignored: Klaxon replicas coordinate through the database, not gossip", "flag", "--cluster.peer")
	}
}

func (c *serveCmd) serve(logger *slog.Logger) error {
	logger.Info("Starting Klaxon", "version", version.Info())
	notifiers.Version = version.Version
	c.warnIgnoredFlags(logger)
	extURL, prefix, err := externalURL(*c.externalURL, *c.routePrefix, *c.listen)
	if err != nil {
		return err
	}
	cfg, err := config.LoadFile(*c.configFile)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	db, err := openStore(ctx, storage.Options{DatabaseURL: *c.databaseURL, Path: *c.storagePath, Logger: logger}, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	logger.Info("Opened store", "store", db.String())
	authSvc := authService(db, cfg.Auth, time.Now, logger.With("component", "auth"))
	if err := bootstrapAdmin(ctx, authSvc, *c.storagePath, logger); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("klaxon"))
	clock, err := c.clock()
	if err != nil {
		return err
	}

	oc := oncall.New(oncall.Options{DB: db, Clock: clock, Logger: logger.With("component", "oncall")})
	outbox := notifiers.NewOutbox(notifiers.OutboxOptions{
		DB: db, Clock: clock, Logger: logger.With("component", "notifiers"), Registerer: reg, ExternalURL: extURL,
		Build: receiver.Build, OnResult: incidents.RecordDelivery, Lease: *c.notifyLease,
		// Users created through the API are paged through their contact
		// methods as stored when the page is queued and sent.
		Resolve: incidents.ContactResolver(oc),
	})
	inc := incidents.New(incidents.Options{
		DB: db, Clock: clock, Logger: logger.With("component", "incidents"), Registerer: reg, Outbox: outbox, ExternalURL: extURL,
		OnCall: oc,
	})
	// On PostgreSQL every process is a replica of a cluster sharing the
	// database: alert groups are flushed by the replica holding their slot.
	var (
		member *cluster.Member
		fence  router.Fence
	)
	if db.Dialect() == storage.Postgres {
		// The id is kept in the storage directory, so that a process
		// restarted after a crash takes its own slots back at once.
		id, idLock, err := cluster.StableID(*c.storagePath)
		if err != nil {
			logger.Warn("Cannot keep the replica id; a restart after a crash waits for the lease", "err", err)
		} else {
			defer idLock.Close()
		}
		member = cluster.New(cluster.Options{
			DB: db, Logger: logger.With("component", "cluster"), Registerer: reg, ID: id,
			Lease: *c.clusterLease, Slots: router.Slots,
		})
		fence = member
	}
	rt := router.New(router.Options{
		DB: db, Clock: clock, Logger: logger.With("component", "router"), Registerer: reg, Sink: inc,
		// A committed flush may have opened an escalation whose next step
		// is sooner than the loop's next look. (The outbox learns of its
		// rows from their transaction, see Outbox.Enqueue.)
		AfterCommit: inc.Wake,
		Fence:       fence,
	})

	rl := &reloader{file: *c.configFile, logger: logger, outbox: outbox, incidents: inc, router: rt, reg: reg}
	rl.rules = rules.New(rules.Options{DB: db, Clock: clock, Logger: logger.With("component", "rules"), Registerer: reg, Router: rt})
	rl.oncall = oc
	if err := rl.apply(ctx, cfg); err != nil {
		return err
	}
	if err := rt.Load(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *c.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *c.listen, err)
	}
	defer ln.Close()
	// This replica's name among the peers: the host name (a pod's) and
	// the port it really listens on (":0" picks one).
	self := peerAddress(ln.Addr())

	var ready atomic.Bool
	srv := web.New(web.Options{
		Router: rt, Incidents: inc,
		OnCall: rl.oncall,
		Rules:  rl.rules,
		Reload: func() error { return rl.reload(ctx) },
		// Not ready while the database is away: ingest would answer 503.
		Ready:          func() bool { return ready.Load() && reachable(db) },
		ClusterPeers:   clusterPeers(member, self),
		ResolveTimeout: rl.resolveTimeout,
		Gatherer:       reg, Registerer: reg,
		Logger:       logger.With("component", "web"),
		RoutePrefix:  prefix,
		MaxBodyBytes: int64(*c.maxBody),
		Now:          clock.Now,
		// The rest of Alertmanager's API v2: alerts, groups, silences, status.
		Alertmanager:       rt,
		AlertmanagerConfig: func() *amconfig.Config { return rl.current.Load().Alertmanager },
		PeerName:           self,
		PeerAddress:        self,
		// The UI's rules page links expressions to this Prometheus's graph,
		// and its status page counts deliveries in the outbox.
		PrometheusURL: func() string {
			// external_url is where people reach Prometheus; url may be
			// an address only Klaxon can reach.
			if p := rl.current.Load().Prometheus; p.ExternalURL != "" {
				return p.ExternalURL
			}
			return rl.current.Load().Prometheus.URL
		},
		Deliveries: outbox,
		// Access control is read from the file at start (config/auth.go).
		Access: webAccess(cfg.Auth, authSvc, extURL),
	})
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	if member != nil {
		// Replicas share the external URL (a Service's); each is named by
		// its host and port, as peers in /api/v2/status.
		member.SetAddress(self, self)
	}

	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.Background())
	wg.Go(func() { rt.Run(workCtx) })
	wg.Go(func() { outbox.Run(workCtx) })
	wg.Go(func() { rl.rules.Run(workCtx) })
	wg.Go(func() { inc.Run(workCtx) })
	if member != nil {
		wg.Go(func() { member.Run(workCtx, rt) })
		wg.Go(func() { rt.RunSync(workCtx, router.DefaultSyncInterval) })
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_ = rl.reload(ctx)
		}
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	logger.Info("Listening on", "address", ln.Addr().String())
	ready.Store(true)

	select {
	case <-ctx.Done():
		logger.Info("Received shutdown signal, stopping")
	case err = <-serveErr:
	}
	ready.Store(false)
	shutCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = httpSrv.Shutdown(shutCtx)
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// openStore opens the store, waiting while the database cannot be reached
// (a replica starting before its PostgreSQL, or during an outage) instead
// of exiting: it starts by itself when the database is back. A
// configuration error (bad URL, wrong password, failed migration) stops
// the start at once.
func openStore(ctx context.Context, opts storage.Options, logger *slog.Logger) (*storage.DB, error) {
	wait := time.Second
	for {
		db, err := storage.Open(ctx, opts)
		if err == nil || !storage.Unavailable(err) || ctx.Err() != nil {
			return db, err
		}
		logger.Warn("Waiting for the database", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// peerAddress names this replica: the host name (a pod's name) and the
// port it listens on.
func peerAddress(ln net.Addr) string {
	_, port, err := net.SplitHostPort(ln.String())
	host, herr := os.Hostname()
	if err != nil || herr != nil {
		return ln.String()
	}
	return net.JoinHostPort(host, port)
}

// reachable reports whether the database answers within a short time.
func reachable(db *storage.DB) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}

// clusterPeers lists the live replicas for /api/v2/status; without a
// cluster (SQLite) this process is the only one.
func clusterPeers(m *cluster.Member, self string) func() ([]web.ClusterPeer, bool) {
	return func() ([]web.ClusterPeer, bool) {
		if m == nil {
			return []web.ClusterPeer{{Name: self, Address: self}}, true
		}
		var out []web.ClusterPeer
		for _, p := range m.Peers() {
			out = append(out, web.ClusterPeer{Name: p.Name, Address: p.Address})
		}
		return out, m.Settled()
	}
}

// externalURL works out the public URL and route prefix as Alertmanager does.
func externalURL(ext, prefix, listen string) (*url.URL, string, error) {
	if ext == "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, "", fmt.Errorf("--web.listen-address %q: %w", listen, err)
		}
		if host == "" {
			if host, err = os.Hostname(); err != nil {
				return nil, "", err
			}
		}
		ext = "http://" + net.JoinHostPort(host, port) + "/"
	}
	u, err := url.Parse(ext)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, "", fmt.Errorf("--web.external-url %q: want an absolute URL such as https://klaxon.example.com/", ext)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if prefix == "" {
		prefix = u.Path
	}
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	return u, strings.TrimRight(prefix, "/"), nil
}

// reloader applies a configuration to every part, and re-reads the file on
// SIGHUP and /-/reload; a bad file keeps the running configuration.
type reloader struct {
	file      string
	logger    *slog.Logger
	outbox    *notifiers.Outbox
	incidents *incidents.Service
	oncall    *oncall.Service
	router    *router.Router
	rules     *rules.Manager
	reg       prometheus.Registerer

	mu       sync.Mutex
	current  atomic.Pointer[config.Config]
	once     sync.Once
	success  prometheus.Gauge
	lastTime prometheus.Gauge
}

func (r *reloader) apply(ctx context.Context, cfg *config.Config) error {
	r.once.Do(func() {
		f := promauto.With(r.reg)
		r.success = f.NewGauge(prometheus.GaugeOpts{
			Name: "klaxon_config_last_reload_successful", Help: "Whether the last configuration reload attempt was successful.",
		})
		r.lastTime = f.NewGauge(prometheus.GaugeOpts{
			Name: "klaxon_config_last_reload_success_timestamp_seconds", Help: "Timestamp of the last successful configuration reload.",
		})
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.oncall.ApplyConfig(ctx, &cfg.OnCall); err != nil {
		return err
	}
	if err := r.incidents.ApplyConfig(cfg); err != nil {
		return err
	}
	// The file's users' contact methods become receivers, so that
	// escalation pages people through the outbox (API users: Resolve).
	if err := r.outbox.ApplyConfig(incidents.WithContactReceivers(cfg)); err != nil {
		return err
	}
	if err := r.router.ApplyConfig(ctx, cfg.Alertmanager); err != nil {
		return err
	}
	if err := r.rules.ApplyConfig(ctx, cfg); err != nil {
		return err
	}
	r.current.Store(cfg)
	r.success.Set(1)
	r.lastTime.SetToCurrentTime()
	return nil
}

func (r *reloader) reload(ctx context.Context) error {
	cfg, err := config.LoadFile(r.file)
	if err == nil {
		warnAuthChange(r.logger, r.current.Load(), cfg)
		err = r.apply(ctx, cfg)
	}
	if err != nil {
		r.success.Set(0)
		r.logger.Error("Loading configuration file failed; keeping the running configuration", "file", r.file, "err", err)
		return err
	}
	r.logger.Info("Completed loading of configuration file", "file", r.file)
	return nil
}

func (r *reloader) resolveTimeout() time.Duration {
	return r.current.Load().ResolveTimeout()
}
