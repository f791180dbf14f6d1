// Package web serves Klaxon's HTTP interfaces: the Alertmanager-compatible
// API v2, Klaxon's own API, inbound hooks and the operational endpoints. It
// translates HTTP to calls on the domain packages and holds no business
// rules of its own.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/klaxon-dev/klaxon/incidents"
)

// DefaultMaxBodyBytes bounds request bodies unless configured otherwise.
const DefaultMaxBodyBytes = 16 << 20

// Ingester is the router's one entry point for alerts.
type Ingester interface {
	Ingest(ctx context.Context, alerts []*alert.Alert) error
}

// Incidents is what the API needs of the incident service.
type Incidents interface {
	List(ctx context.Context, f incidents.Filter) ([]*incidents.Incident, error)
	Get(ctx context.Context, id int64) (*incidents.Incident, error)
	Ack(ctx context.Context, id int64, by incidents.Actor) (*incidents.Incident, error)
	Resolve(ctx context.Context, id int64, by incidents.Actor) (*incidents.Incident, error)
	// The rest (timeline, edits, postmortems, the ack hooks): web/incidents.go.
	IncidentWork
}

// Options wire the server to the rest of Klaxon.
type Options struct {
	Router    Ingester
	Incidents Incidents
	// OnCall serves users, schedules, overrides and escalation policies
	// under /api/v1; nil leaves those routes out.
	OnCall OnCall
	// Reload re-reads the configuration; an error keeps the old one.
	Reload func() error
	// Ready reports whether the server accepts traffic.
	Ready func() bool
	// ResolveTimeout is the current global resolve_timeout.
	ResolveTimeout func() time.Duration
	Gatherer       prometheus.Gatherer
	Registerer     prometheus.Registerer
	Logger         *slog.Logger
	// RoutePrefix is where every path is served (Alertmanager's
	// --web.route-prefix); "" or "/" for the root.
	RoutePrefix  string
	MaxBodyBytes int64
	Now          func() time.Time

	// Alertmanager serves the rest of Alertmanager's API v2 (alerts,
	// groups, silences); without it only POST /api/v2/alerts is served.
	Alertmanager AlertmanagerState
	// AlertmanagerConfig returns the running alertmanager.yml part of the
	// configuration, for /api/v2/status and /api/v2/receivers.
	AlertmanagerConfig func() *amconfig.Config
	// StartTime is reported as the uptime of /api/v2/status.
	StartTime time.Time
	// PeerName and PeerAddress name this instance in the cluster status.
	PeerName, PeerAddress string
	// ClusterPeers, if set, lists the live replicas sharing the database
	// for the cluster status, and whether this one settled (holds its
	// share of the work); unset, this instance is the only peer.
	ClusterPeers func() (peers []ClusterPeer, settled bool)
	// Rules serves Prometheus's GET /api/v1/rules and /api/v1/alerts from
	// the rule evaluator; nil leaves them out.
	Rules Rules
	// PrometheusURL is the base URL of the Prometheus the rules query, for
	// the rules page's graph links; nil or "" leaves the links out.
	PrometheusURL func() string
	// Deliveries reports recent notification deliveries per receiver and
	// integration for the status page; nil leaves them out.
	Deliveries Deliveries
	// Access is access control: users, sessions, tokens and who may reach
	// which route (web/auth.go).
	Access Access
}

// Server is Klaxon's HTTP handler.
type Server struct {
	opts    Options
	handler http.Handler
}

// New builds the handler tree.
func New(opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StartTime.IsZero() {
		opts.StartTime = opts.Now()
	}
	if opts.Ready == nil {
		opts.Ready = func() bool { return true }
	}
	s := &Server{opts: opts}
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	// Every route below is authenticated and checked against its access
	// rule (web/auth.go) before its handler runs.
	r.Use(s.accessControl(r))
	s.authRoutes(r)
	r.Get("/-/healthy", s.healthy)
	r.Head("/-/healthy", s.healthy)
	r.Get("/-/ready", s.ready)
	r.Head("/-/ready", s.ready)
	r.Post("/-/reload", s.reload)
	r.Put("/-/reload", s.reload)
	r.Handle("/metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{Registry: opts.Registerer}))
	// Go's profiler, as Alertmanager and Prometheus serve it, so that
	// performance problems can be looked at on a running server.
	r.Mount("/debug", middleware.Profiler())

	r.Post("/api/v2/alerts", s.postAlertsV2)
	r.Post("/hooks/alertmanager", s.postAlertmanagerWebhook)
	s.routeAPIv2(r)

	if opts.Rules != nil {
		r.Get("/api/v1/rules", s.getRules)
		r.Get("/api/v1/alerts", s.getRuleAlerts)
	}
	r.Route("/api/v1/incidents", func(r chi.Router) {
		r.Get("/", s.listIncidents)
		r.Get("/{id}", s.getIncident)
		r.Post("/{id}/ack", s.ackIncident)
		r.Post("/{id}/resolve", s.resolveIncident)
		s.incidentWorkRoutes(r)
	})
	s.ackHookRoutes(r)
	if opts.OnCall != nil {
		s.onCallRoutes(r)
	}
	s.uiRoutes(r)

	prefix := strings.TrimRight(opts.RoutePrefix, "/")
	if prefix == "" {
		s.handler = r
	} else {
		root := chi.NewRouter()
		root.Mount(prefix, r)
		root.Get("/", http.RedirectHandler(prefix+"/", http.StatusFound).ServeHTTP)
		s.handler = root
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) healthy(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if !s.opts.Ready() {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

func (s *Server) reload(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Reload == nil {
		http.Error(w, "reload is not available", http.StatusNotImplemented)
		return
	}
	if err := s.opts.Reload(); err != nil {
		http.Error(w, "failed to reload config: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// apiError is the JSON body of an error from Klaxon's own API.
type apiError struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Status: status, Error: msg})
}

// statusOf maps domain errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, incidents.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, incidents.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
