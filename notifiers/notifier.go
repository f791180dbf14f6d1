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
	// Reason is why the group was notified (first, new, resolved, repeat).
	Reason string
	At     time.Time
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
	Notifier     Notifier
}
