// Package notifiers delivers notifications durably. A notification is a row
// in the outbox, written in the same transaction that records the flush;
// workers claim rows, hand them to an integration and record the outcome.
// Integrations (one sub-package each) only translate and send: retries,
// backoff, metrics and logging live here, once.
package notifiers

import (
	"context"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
)

// Message is what an integration is asked to deliver: one group's state.
type Message struct {
	// IncidentID is the incident the notification belongs to (0 if none).
	IncidentID  int64
	Receiver    string
	GroupKey    string
	GroupLabels model.LabelSet
	// Alerts are as of At; firing alerts have a zero EndsAt.
	Alerts []*alert.Alert
	// Reason is why the group was notified (first, new, resolved, repeat,
	// or ReasonAcknowledged).
	Reason string
	At     time.Time
	// Ack is the incident's acknowledgement as of At, nil if there is none.
	Ack *Ack
	// Closed says who resolved the incident by hand, nil if no one did.
	Closed *Ack
	// AckURL is a signed, single-use link that acknowledges the incident
	// (package incidents makes it); emails show it. "" if there is none.
	AckURL string
	// Thread remembers what the integration posted for this incident, so
	// that a later state edits the same message. The outbox sets it for
	// each attempt; it is nil outside the outbox.
	Thread Thread
}

// ReasonAcknowledged is the Reason of the notification an acknowledgement
// sends. Only integrations with Integration.Acks get it: a Slack message is
// edited and PagerDuty acknowledges, while a mail or a webhook would only
// repeat what the receiver already knows.
const ReasonAcknowledged = "acknowledged"

// ReasonResolvedByHand is the Reason of the notification sent when someone
// resolves an incident whose alerts may still fire; like an
// acknowledgement, only integrations with Integration.Acks get it.
const ReasonResolvedByHand = "resolved_by_hand"

// isUpdate reports whether reason is a change of the incident only, which
// integrations without Integration.Acks are not told about.
func isUpdate(reason string) bool {
	return reason == ReasonAcknowledged || reason == ReasonResolvedByHand
}

// Ack says who acknowledged an incident, through which channel and when.
type Ack struct {
	By  string    `json:"by"`
	Via string    `json:"via"`
	At  time.Time `json:"at"`
}

// Notifier sends a message through one integration. It reports whether a
// retry could help: network errors, 5xx and 429 can; a rejected payload or
// bad credentials cannot.
type Notifier interface {
	Notify(ctx context.Context, m *Message) (retry bool, err error)
}

// Integration is one configured notifier of a receiver, e.g. the second
// webhook_config of receiver "team-a".
type Integration struct {
	Name         string // "webhook", "email", "slack", "pagerduty"
	Index        int
	SendResolved bool
	// Acks says whether the integration is told about acknowledgements
	// and resolutions by hand (ReasonAcknowledged, ReasonResolvedByHand).
	Acks     bool
	Notifier Notifier
}
