package web

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"

	"github.com/klaxon-dev/klaxon/router"
)

// AlertmanagerState is what Alertmanager's API v2 reads and changes besides
// ingesting alerts: the router's alerts, groups and silences.
type AlertmanagerState interface {
	Alerts() []router.AlertView
	Groups() []router.GroupView
	Silences(ctx context.Context) ([]*router.Silence, error)
	GetSilence(ctx context.Context, id string) (*router.Silence, error)
	SetSilence(ctx context.Context, s *router.Silence) (string, error)
	ExpireSilence(ctx context.Context, id string) error
}

// routeAPIv2 registers the read side of Alertmanager's API v2 and its
// silences; POST /api/v2/alerts is registered with the other ingest paths.
func (s *Server) routeAPIv2(r chi.Router) {
	if s.opts.Alertmanager == nil {
		return
	}
	r.Get("/api/v2/alerts", s.getAlertsV2)
	r.Get("/api/v2/alerts/groups", s.getAlertGroupsV2)
	r.Get("/api/v2/receivers", s.getReceiversV2)
	r.Get("/api/v2/status", s.getStatusV2)
	r.Get("/api/v2/silences", s.getSilencesV2)
	r.Post("/api/v2/silences", s.postSilencesV2)
	r.Get("/api/v2/silence/{id}", s.getSilenceV2)
	r.Delete("/api/v2/silence/{id}", s.deleteSilenceV2)
}

// writeV2Error answers as Alertmanager's API does: the message as a JSON
// string.
func writeV2Error(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, msg)
}

// alertQuery holds the filters Alertmanager's GET /alerts and
// /alerts/groups accept.
type alertQuery struct {
	active, silenced, inhibited, unprocessed bool
	matchers                                 []*labels.Matcher
	receiver                                 *regexp.Regexp
}

func parseAlertQuery(r *http.Request) (*alertQuery, error) {
	q := r.URL.Query()
	aq := &alertQuery{}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"active", &aq.active}, {"silenced", &aq.silenced}, {"inhibited", &aq.inhibited}, {"unprocessed", &aq.unprocessed}} {
		*f.dst = true
		if v := q.Get(f.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s in query must be of type boolean: %q", f.name, v)
			}
			*f.dst = b
		}
	}
	ms, err := parseFilter(q["filter"])
	if err != nil {
		return nil, err
	}
	aq.matchers = ms
	if rcv := q.Get("receiver"); rcv != "" {
		re, err := regexp.Compile("^(?:" + rcv + ")$")
		if err != nil {
			return nil, fmt.Errorf("failed to parse receiver param: %w", err)
		}
		aq.receiver = re
	}
	return aq, nil
}

// parseFilter parses filter matchers as Alertmanager does, with the
// parser its feature flags selected.
func parseFilter(filter []string) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, 0, len(filter))
	for _, f := range filter {
		m, err := compat.Matcher(f, "api")
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// matchFilterLabels is Alertmanager's: an empty-valued matcher on a missing
// label passes, so that `foo=""` means "foo is unset".
func matchFilterLabels(matchers []*labels.Matcher, sms map[string]string) bool {
	for _, m := range matchers {
		v, prs := sms[m.Name]
		switch m.Type {
		case labels.MatchNotRegexp, labels.MatchNotEqual:
			if m.Value == "" && prs {
				continue
			}
		default:
			if m.Value == "" && !prs {
				continue
			}
		}
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

func labelMap(ls model.LabelSet) map[string]string {
	m := make(map[string]string, len(ls))
	for k, v := range ls {
		m[string(k)] = string(v)
	}
	return m
}

// keep applies the state and label filters to one alert.
func (aq *alertQuery) keep(v router.AlertView) bool {
	st := v.Status
	if !aq.active && st.State == "active" {
		return false
	}
	if !aq.unprocessed && st.State == "unprocessed" {
		return false
	}
	if !aq.silenced && len(st.SilencedBy) > 0 {
		return false
	}
	if !aq.inhibited && len(st.InhibitedBy) > 0 {
		return false
	}
	return matchFilterLabels(aq.matchers, labelMap(v.Alert.Labels))
}

func gettableAlert(v router.AlertView) *models.GettableAlert {
	a := v.Alert
	startsAt, updatedAt, endsAt := strfmt.DateTime(a.StartsAt), strfmt.DateTime(a.UpdatedAt), strfmt.DateTime(a.EndsAt)
	rcvs := make([]*models.ReceiverReference, 0, len(v.Receivers))
	for i := range v.Receivers {
		rcvs = append(rcvs, &models.ReceiverReference{Name: &v.Receivers[i]})
	}
	fp := a.Fingerprint().String()
	state := string(v.Status.State)
	return &models.GettableAlert{
		Alert:       models.Alert{GeneratorURL: strfmt.URI(a.GeneratorURL), Labels: apiLabels(a.Labels)},
		Annotations: apiLabels(a.Annotations),
		StartsAt:    &startsAt, UpdatedAt: &updatedAt, EndsAt: &endsAt,
		Fingerprint: &fp,
		Receivers:   rcvs,
		Status: &models.AlertStatus{
			State: &state, SilencedBy: nonNilStrings(v.Status.SilencedBy), InhibitedBy: nonNilStrings(v.Status.InhibitedBy),
			MutedBy: []string{},
		},
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func apiLabels(ls model.LabelSet) models.LabelSet {
	out := models.LabelSet{}
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}

// getAlertsV2 is GET /api/v2/alerts.
func (s *Server) getAlertsV2(w http.ResponseWriter, r *http.Request) {
	aq, err := parseAlertQuery(r)
	if err != nil {
		writeV2Error(w, http.StatusBadRequest, err.Error())
		return
	}
	out := models.GettableAlerts{}
	for _, v := range s.opts.Alertmanager.Alerts() {
		if aq.receiver != nil && !slices.ContainsFunc(v.Receivers, aq.receiver.MatchString) {
			continue
		}
		if aq.keep(v) {
			out = append(out, gettableAlert(v))
		}
	}
	slices.SortFunc(out, func(a, b *models.GettableAlert) int {
		switch {
		case *a.Fingerprint < *b.Fingerprint:
			return -1
		case *a.Fingerprint > *b.Fingerprint:
			return 1
		}
		return 0
	})
	writeJSON(w, http.StatusOK, out)
}

// getAlertGroupsV2 is GET /api/v2/alerts/groups.
func (s *Server) getAlertGroupsV2(w http.ResponseWriter, r *http.Request) {
	aq, err := parseAlertQuery(r)
	if err != nil {
		writeV2Error(w, http.StatusBadRequest, err.Error())
		return
	}
	out := models.AlertGroups{}
	for _, g := range s.opts.Alertmanager.Groups() {
		if aq.receiver != nil && !aq.receiver.MatchString(g.Receiver) {
			continue
		}
		ag := &models.AlertGroup{Labels: apiLabels(g.Labels), Receiver: &models.ReceiverReference{Name: &g.Receiver}, Alerts: []*models.GettableAlert{}}
		for _, v := range g.Alerts {
			if aq.keep(v) {
				ag.Alerts = append(ag.Alerts, gettableAlert(v))
			}
		}
		if len(ag.Alerts) > 0 {
			out = append(out, ag)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// getReceiversV2 is GET /api/v2/receivers.
func (s *Server) getReceiversV2(w http.ResponseWriter, _ *http.Request) {
	out := []*models.Receiver{}
	if cfg := s.amConfig(); cfg != nil {
		for i := range cfg.Receivers {
			out = append(out, &models.Receiver{Name: &cfg.Receivers[i].Name})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) amConfig() *amconfig.Config {
	if s.opts.AlertmanagerConfig == nil {
		return nil
	}
	return s.opts.AlertmanagerConfig()
}

// ClusterPeer is a replica sharing the database, as /api/v2/status lists it.
type ClusterPeer struct {
	Name, Address string
}

// getStatusV2 is GET /api/v2/status. The configuration is Alertmanager's
// own rendering of the parsed file (secrets hidden), as Alertmanager
// serves it; the cluster's peers are the live replicas sharing the
// database (they coordinate through it instead of gossiping).
func (s *Server) getStatusV2(w http.ResponseWriter, _ *http.Request) {
	original := ""
	if cfg := s.amConfig(); cfg != nil {
		original = originalConfig(cfg)
	}
	uptime := strfmt.DateTime(s.opts.StartTime)
	clusterStatus := "ready"
	name, addr := s.opts.PeerName, s.opts.PeerAddress
	peers := []*models.PeerStatus{{Name: &name, Address: &addr}}
	if s.opts.ClusterPeers != nil {
		live, settled := s.opts.ClusterPeers()
		if !settled {
			clusterStatus = "settling"
		}
		peers = make([]*models.PeerStatus, 0, len(live))
		for _, p := range live {
			peers = append(peers, &models.PeerStatus{Name: &p.Name, Address: &p.Address})
		}
	}
	resp := models.AlertmanagerStatus{
		Uptime: &uptime,
		VersionInfo: &models.VersionInfo{
			Version: &version.Version, Revision: &version.Revision, Branch: &version.Branch,
			BuildUser: &version.BuildUser, BuildDate: &version.BuildDate, GoVersion: &version.GoVersion,
		},
		Config: &models.AlertmanagerConfig{Original: &original},
		Cluster: &models.ClusterStatus{
			Name:   name,
			Status: &clusterStatus,
			Peers:  peers,
		},
	}
	writeJSON(w, http.StatusOK, resp)
}
