package notifiers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
)

// payload is an outbox row's copy of a Message: everything but the columns
// (incident, receiver), with what alert.New needs to rebuild each alert in
// whichever replica sends the row.
type payload struct {
	GroupKey    string         `json:"groupKey"`
	GroupLabels model.LabelSet `json:"groupLabels"`
	Reason      string         `json:"reason"`
	At          time.Time      `json:"at"`
	Alerts      []payloadAlert `json:"alerts"`
	Ack         *Ack           `json:"ack,omitempty"`
	Closed      *Ack           `json:"closed,omitempty"`
	AckURL      string         `json:"ackUrl,omitempty"`
}

type payloadAlert struct {
	Labels       model.LabelSet `json:"labels"`
	Annotations  model.LabelSet `json:"annotations"`
	StartsAt     time.Time      `json:"startsAt"`
	EndsAt       time.Time      `json:"endsAt"`
	GeneratorURL string         `json:"generatorURL,omitempty"`
	UpdatedAt    time.Time      `json:"updatedAt"`
	Timeout      bool           `json:"timeout,omitempty"`
}

func encodePayload(m *Message) (string, error) {
	p := payload{GroupKey: m.GroupKey, GroupLabels: m.GroupLabels, Reason: m.Reason, At: m.At, Ack: m.Ack, Closed: m.Closed, AckURL: m.AckURL}
	p.Alerts = make([]payloadAlert, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		p.Alerts = append(p.Alerts, payloadAlert{
			Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
			UpdatedAt: a.UpdatedAt, Timeout: a.Timeout,
		})
	}
	b, err := json.Marshal(p)
	return string(b), err
}

func decodePayload(r row) (*Message, error) {
	var p payload
	if err := json.Unmarshal([]byte(r.payload), &p); err != nil {
		return nil, err
	}
	m := &Message{
		IncidentID: r.incidentID, Receiver: r.receiver,
		GroupKey: p.GroupKey, GroupLabels: p.GroupLabels, Reason: p.Reason, At: p.At, Ack: p.Ack, Closed: p.Closed, AckURL: p.AckURL,
		Alerts: make([]*alert.Alert, 0, len(p.Alerts)),
	}
	for _, a := range p.Alerts {
		m.Alerts = append(m.Alerts, alert.New(model.Alert{
			Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
		}, a.UpdatedAt, a.Timeout))
	}
	return m, nil
}

// groupID is the outbox's short, fixed-length name for a group key.
func groupID(groupKey string) string {
	sum := sha256.Sum256([]byte(groupKey))
	return hex.EncodeToString(sum[:])
}

// withoutResolved returns m with only the alerts still firing at m.At, for
// integrations configured with send_resolved: false.
func withoutResolved(m *Message) *Message {
	c := *m
	c.Alerts = make([]*alert.Alert, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		if !a.ResolvedAt(m.At) {
			c.Alerts = append(c.Alerts, a)
		}
	}
	return &c
}
