// Package incidents turns flushed alert groups into incidents: one incident
// per alert group, its alerts, its timeline, and its acknowledgement. Every
// acknowledgement channel ends in Service.Ack.
package incidents

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	tmpltext "text/template"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// Status is an incident's state.
type Status string

// The states of an incident.
const (
	Triggered    Status = "triggered"
	Acknowledged Status = "acknowledged"
	Resolved     Status = "resolved"
)

// ErrNotFound is returned for an unknown incident id.
var ErrNotFound = errors.New("incident not found")

// ErrConflict is returned for a transition the incident's state forbids,
// such as acknowledging a resolved incident.
var ErrConflict = errors.New("incident state does not allow this")

// Actor says who did something and through which channel.
type Actor struct {
	Name string `json:"name"`
	Via  string `json:"via"` // api, cli, ui, slack, pagerduty, email, klaxon
}

// system is the actor for what Klaxon does by itself.
var system = Actor{Name: "klaxon", Via: "alerts"}

// Enqueuer is the delivery side: notifiers.Outbox.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *storage.Tx, m *notifiers.Message) error
}

// Options are the service's collaborators.
type Options struct {
	DB          *storage.DB
	Clock       clockwork.Clock
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
	Outbox      Enqueuer
	ExternalURL *url.URL
	// OnCall resolves escalation policies, schedules and users; nil
	// disables escalation.
	OnCall OnCall
}

// Service owns incidents and their tables.
type Service struct {
	db      *storage.DB
	clock   clockwork.Clock
	logger  *slog.Logger
	outbox  Enqueuer
	extURL  *url.URL
	title   atomic.Pointer[titler]
	work    atomic.Pointer[work]
	oncall  OnCall
	wake    chan struct{}
	opened  prometheus.Counter
	acked   *prometheus.CounterVec
	resolvd *prometheus.CounterVec
}

// titler renders a new incident's title, severity and service from its
// group, with the configured templates.
type titler struct {
	tmpl *template.Template // for the templates' data
	// The configured templates, parsed once (compileText).
	title, severity, service *tmpltext.Template
}

// New returns a service; call ApplyConfig before use.
func New(opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(opts.Registerer)
	s := &Service{
		db: opts.DB, clock: opts.Clock, logger: opts.Logger, outbox: opts.Outbox, extURL: opts.ExternalURL,
		oncall: opts.OnCall, wake: make(chan struct{}, 1),
		opened: f.NewCounter(prometheus.CounterOpts{
			Name: "klaxon_incidents_opened_total",
			Help: "Incidents opened.",
		}),
		acked: f.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_incidents_acknowledged_total",
			Help: "Incident acknowledgements, by channel.",
		}, []string{"via"}),
		resolvd: f.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_incidents_resolved_total",
			Help: "Incidents resolved, by channel.",
		}, []string{"via"}),
	}
	return s
}

// ApplyConfig installs the incident settings of cfg.
func (s *Service) ApplyConfig(cfg *config.Config) error {
	tmpl, root, err := textTemplates(cfg.Alertmanager.Templates)
	if err != nil {
		return fmt.Errorf("incident templates: %w", err)
	}
	tmpl.ExternalURL = &url.URL{}
	if s.extURL != nil {
		tmpl.ExternalURL = s.extURL
	}
	t := &titler{tmpl: tmpl}
	for _, k := range []struct {
		key, text string
		dst       **tmpltext.Template
	}{
		{"title_template", cfg.Incidents.TitleTemplate, &t.title},
		{"severity_template", cfg.Incidents.SeverityTemplate, &t.severity},
		{"service_template", cfg.Incidents.ServiceTemplate, &t.service},
	} {
		// Parsed once here (compileText), and run on empty data so that a
		// template that cannot run on any group is refused with the file.
		c, err := compileText(root, k.text)
		if err == nil {
			_, err = execText(c, &template.Data{})
		}
		if err != nil {
			return fmt.Errorf("incidents.%s: %w", k.key, err)
		}
		*k.dst = c
	}
	w, err := newWork(cfg)
	if err != nil {
		return err
	}
	s.title.Store(t)
	s.work.Store(w)
	return nil
}

// Flush implements router.Sink: it opens or updates the group's incident
// and queues the notification, unless the incident is acknowledged and
// nothing changed but the passing of repeat_interval.
func (s *Service) Flush(ctx context.Context, tx *storage.Tx, n *router.Notification) (bool, error) {
	firing := n.Firing()
	// The flush's events are collected and written together with its
	// alerts.
	var (
		tl  timeline
		inc *Incident
		err error
	)
	if n.Reason == router.ReasonFirst && firing && !s.reopens() {
		// A group's first notification almost always opens its incident:
		// one statement inserts it unless one is open, instead of a look
		// for an open one and then the insert.
		if inc, err = s.open(ctx, tx, n, &tl, true); err != nil {
			return false, err
		}
	}
	if inc == nil {
		if inc, err = openIncidentForGroup(ctx, tx, n.GroupID); err != nil {
			return false, err
		}
	}
	if inc == nil {
		if !firing || n.Reason == router.ReasonRepeat {
			// The group's incident was resolved by hand. Someone decided it
			// needs no more pages: repeats stay quiet, the final
			// resolution still reaches receivers, and only a new alert
			// joining the group opens a new incident.
			if n.Reason == router.ReasonRepeat {
				return false, nil
			}
			return true, s.outbox.Enqueue(ctx, tx, s.message(0, n))
		}
		inc, err = s.reopen(ctx, tx, n, &tl)
		if err != nil {
			return false, err
		}
		if inc == nil {
			if inc, err = s.open(ctx, tx, n, &tl, false); err != nil {
				return false, err
			}
		}
	}
	if n.Reason == router.ReasonRepeat && inc.Status == Acknowledged {
		return false, nil
	}
	alerts, err := recordAlerts(ctx, tx, inc, n, &tl)
	if err != nil {
		return false, err
	}
	switch {
	case !firing:
		// Sets updated_at too.
		if err := markResolved(ctx, tx, inc.ID, n.At, system); err != nil {
			return false, err
		}
		tl.add(n.At, "resolved", system, "")
		if err := stopEscalation(ctx, tx, inc.ID); err != nil {
			return false, err
		}
		s.resolvd.WithLabelValues(system.Via).Inc()
	case inc.fresh:
		// Opened or re-opened by this flush, which set updated_at to n.At.
	default:
		if err := touch(ctx, tx, inc.ID, n.At); err != nil {
			return false, err
		}
	}
	if err := s.outbox.Enqueue(ctx, tx, s.withAckURL(withAck(s.message(inc.ID, n), inc), "")); err != nil {
		return false, err
	}
	tl.add(n.At, "notification_queued", system, fmt.Sprintf("notification to %s queued (%s)", n.Receiver, n.Reason))
	// Escalation reads the alerts and adds events after these.
	if err := alerts.write(ctx, tx, inc.ID, tl); err != nil {
		return false, err
	}
	if firing && inc.fresh {
		if err := s.startEscalation(ctx, tx, inc, n.At); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (s *Service) message(incidentID int64, n *router.Notification) *notifiers.Message {
	return &notifiers.Message{
		IncidentID: incidentID, Receiver: n.Receiver, GroupKey: n.GroupKey,
		GroupLabels: n.GroupLabels, Alerts: n.Alerts, Reason: string(n.Reason), At: n.At,
	}
}

// reopens reports whether a group firing again re-opens its last incident.
func (s *Service) reopens() bool {
	w := s.work.Load()
	return w != nil && w.cfg.ReopenWindow > 0
}

// open opens an incident for n's group. With unlessOpen, it returns nil,
// opening none, if the group has one open.
func (s *Service) open(ctx context.Context, tx *storage.Tx, n *router.Notification, tl *timeline, unlessOpen bool) (*Incident, error) {
	title, severity, service := s.title.Load().render(s.logger, n)
	inc := &Incident{
		GroupID: n.GroupID, GroupKey: n.GroupKey, Receiver: n.Receiver, Title: title,
		Status: Triggered, Severity: severity, Service: service, Labels: n.GroupLabels,
		OpenedAt: n.At, UpdatedAt: n.At,
	}
	if ok, err := insertIncident(ctx, tx, inc, unlessOpen); err != nil || !ok {
		return nil, err
	}
	s.opened.Inc()
	inc.fresh, inc.inserted = true, true
	tl.add(n.At, "opened", system, title)
	return inc, nil
}

// render runs the templates on n's data. A template that fails on this
// group's data must not lose the incident: the title falls back to the
// group key, which still says what it is, severity and service to the
// common labels of the defaults, and a warning is logged.
func (t *titler) render(logger *slog.Logger, n *router.Notification) (title, severity, service string) {
	data := t.tmpl.Data(n.Receiver, n.GroupLabels, nil, string(n.Reason), n.Alerts...)
	run := func(key string, text *tmpltext.Template, fallback func() string) string {
		out, err := execText(text, data)
		if err != nil {
			logger.Warn("Incident template failed; using the fallback", "template", key, "group", n.GroupKey, "err", err)
			return fallback()
		}
		return strings.TrimSpace(out)
	}
	title = run("title_template", t.title, func() string { return "" })
	if title == "" {
		title = n.GroupKey
	}
	severity = run("severity_template", t.severity, func() string { return data.CommonLabels["severity"] })
	service = run("service_template", t.service, func() string {
		return cmp.Or(data.CommonLabels["service"], data.CommonLabels["job"], data.CommonLabels["app"])
	})
	return title, severity, service
}

// Ack acknowledges an incident. It is the one function every channel (API,
// CLI, UI, Slack, PagerDuty, email link) calls; an acknowledged incident is
// not re-notified on repeat_interval.
func (s *Service) Ack(ctx context.Context, id int64, by Actor) (*Incident, error) {
	return s.ack(ctx, id, by, nil)
}

// ack is Ack with a check that runs first in the transaction (an email
// link's token is used up there).
func (s *Service) ack(ctx context.Context, id int64, by Actor, before func(*storage.Tx, time.Time) error) (*Incident, error) {
	inc, err := s.transition(ctx, id, by, func(tx *storage.Tx, inc *Incident, now time.Time) error {
		if before != nil {
			if err := before(tx, now); err != nil {
				return err
			}
		}
		switch inc.Status {
		case Resolved:
			return fmt.Errorf("%w: incident %d is resolved", ErrConflict, id)
		case Acknowledged:
			return nil
		}
		if err := setAcked(ctx, tx, id, now, by); err != nil {
			return err
		}
		s.acked.WithLabelValues(by.Via).Inc()
		if err := addEvent(ctx, tx, id, now, "acknowledged", by, ""); err != nil {
			return err
		}
		if err := s.pauseEscalation(ctx, tx, id, now); err != nil {
			return err
		}
		// Name an unnamed actor in the update as transition does.
		return s.notifyAck(ctx, tx, inc, now, actorOrAnonymous(by))
	})
	return inc, err
}

// Resolve closes an incident by hand.
func (s *Service) Resolve(ctx context.Context, id int64, by Actor) (*Incident, error) {
	inc, err := s.transition(ctx, id, by, func(tx *storage.Tx, inc *Incident, now time.Time) error {
		if inc.Status == Resolved {
			return nil
		}
		if err := setResolved(ctx, tx, id, now, by); err != nil {
			return err
		}
		if err := stopEscalation(ctx, tx, id); err != nil {
			return err
		}
		s.resolvd.WithLabelValues(by.Via).Inc()
		return s.notifyResolve(ctx, tx, inc, now, actorOrAnonymous(by))
	})
	return inc, err
}

func (s *Service) transition(ctx context.Context, id int64, by Actor, fn func(*storage.Tx, *Incident, time.Time) error) (*Incident, error) {
	if by.Name == "" {
		by.Name = "anonymous"
	}
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		inc, err := getIncident(ctx, tx, id)
		if err != nil {
			return err
		}
		return fn(tx, inc, s.clock.Now())
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}
