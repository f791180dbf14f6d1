package web

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/alertmanager/alert"

	"github.com/klaxon-dev/klaxon/web/ingest"
)

type decoder func(r io.Reader, now time.Time, resolveTimeout time.Duration) ([]*alert.Alert, error)

// postAlertsV2 is Alertmanager's POST /api/v2/alerts.
func (s *Server) postAlertsV2(w http.ResponseWriter, r *http.Request) {
	s.ingest(w, r, ingest.DecodeAPIv2)
}

// postAlertmanagerWebhook accepts an Alertmanager's webhook (version 4), so
// that an existing Alertmanager can forward to Klaxon.
func (s *Server) postAlertmanagerWebhook(w http.ResponseWriter, r *http.Request) {
	s.ingest(w, r, ingest.DecodeAlertmanagerWebhook)
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request, decode decoder) {
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	alerts, err := decode(body, s.opts.Now(), s.opts.ResolveTimeout())
	if err != nil {
		status := http.StatusBadRequest
		var ie *ingest.Error
		if errors.As(err, &ie) {
			status = ie.Status
		}
		s.opts.Logger.Debug("Rejected alerts", "path", r.URL.Path, "status", status, "err", err)
		writeError(w, status, err.Error())
		return
	}
	if err := s.opts.Router.Ingest(r.Context(), alerts); err != nil {
		s.opts.Logger.Error("Storing alerts failed", "count", len(alerts), "err", err)
		// Prometheus retries on 5xx; telling it when keeps it from
		// hammering a database that is down.
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "alerts not stored: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}
