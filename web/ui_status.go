package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/version"

	"github.com/klaxon-dev/klaxon/notifiers"
)

func init() {
	uiPageRoutes = append(uiPageRoutes, func(s *Server, r chi.Router) {
		r.Get("/status", s.uiStatus)
	})
}

// Deliveries is what the status page needs of the outbox.
type Deliveries interface {
	// Stats reports the deliveries of notifications queued since since,
	// per receiver and integration.
	Stats(ctx context.Context, since time.Time) ([]notifiers.DeliveryStats, error)
}

// deliveryWindow is how far back the status page counts deliveries
// (statusPage.WindowText says it in words).
const deliveryWindow = 24 * time.Hour

// statusPage is the data of the status page.
type statusPage struct {
	// Version is the build information that is known.
	Version   []uiPair
	StartTime time.Time
	// Config is the running configuration as /api/v2/status renders it,
	// secrets masked.
	Config   string
	Cluster  string
	Replicas []uiReplica
	// Receivers are the configured receivers with their recent
	// deliveries; DeliveriesError says why those could not be read.
	Receivers       []uiReceiver
	WindowText      string
	DeliveriesError string
}

type uiReplica struct{ Name, Address string }

type uiReceiver struct {
	Name         string
	Integrations []notifiers.DeliveryStats
}

func (s *Server) uiStatus(w http.ResponseWriter, r *http.Request) {
	p := &statusPage{StartTime: s.opts.StartTime, WindowText: "24 hours"}
	for _, v := range []uiPair{
		{"Version", version.Version}, {"Revision", version.Revision}, {"Branch", version.Branch},
		{"Build user", version.BuildUser}, {"Build date", version.BuildDate}, {"Go version", version.GoVersion},
	} {
		if v.Value != "" {
			p.Version = append(p.Version, v)
		}
	}
	if st, ok := s.apiStatus(r); ok {
		if st.Config != nil && st.Config.Original != nil {
			p.Config = *st.Config.Original
		}
		if st.Cluster != nil {
			if st.Cluster.Status != nil {
				p.Cluster = *st.Cluster.Status
			}
			for _, peer := range st.Cluster.Peers {
				rp := uiReplica{}
				if peer.Name != nil {
					rp.Name = *peer.Name
				}
				if peer.Address != nil {
					rp.Address = *peer.Address
				}
				p.Replicas = append(p.Replicas, rp)
			}
		}
	}
	var stats []notifiers.DeliveryStats
	if s.opts.Deliveries != nil {
		var err error
		stats, err = s.opts.Deliveries.Stats(r.Context(), s.opts.Now().Add(-deliveryWindow))
		if err != nil {
			p.DeliveriesError = err.Error()
		}
	}
	byReceiver := map[string][]notifiers.DeliveryStats{}
	for _, st := range stats {
		byReceiver[st.Receiver] = append(byReceiver[st.Receiver], st)
	}
	if cfg := s.amConfig(); cfg != nil {
		for _, rc := range cfg.Receivers {
			p.Receivers = append(p.Receivers, uiReceiver{Name: rc.Name, Integrations: byReceiver[rc.Name]})
			delete(byReceiver, rc.Name)
		}
	}
	// Receivers no longer configured still show what they delivered.
	for _, st := range stats {
		if list, ok := byReceiver[st.Receiver]; ok {
			p.Receivers = append(p.Receivers, uiReceiver{Name: st.Receiver, Integrations: list})
			delete(byReceiver, st.Receiver)
		}
	}
	s.renderPage(w, r, http.StatusOK, "status", &uiPage{Title: "Status", Nav: "status", Live: uiAlertsLiveEvery, Data: p})
}

// apiStatus is what GET /api/v2/status answers, so that the page shows
// exactly what amtool and Grafana see (configuration with secrets masked,
// the replicas).
func (s *Server) apiStatus(r *http.Request) (*models.AlertmanagerStatus, bool) {
	if s.opts.Alertmanager == nil {
		return nil, false
	}
	rec := httptest.NewRecorder()
	s.getStatusV2(rec, r)
	if rec.Code != http.StatusOK {
		return nil, false
	}
	var st models.AlertmanagerStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		s.opts.Logger.Error("reading /api/v2/status for the status page", "err", err)
		return nil, false
	}
	return &st, true
}
