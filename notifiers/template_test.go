package notifiers_test

import (
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/notifiers"
)

func TestNotificationReason(t *testing.T) {
	now := time.Now()
	firing := alert.New(model.Alert{Labels: model.LabelSet{"a": "1"}, StartsAt: now}, now, false)
	resolved := alert.New(model.Alert{Labels: model.LabelSet{"a": "2"}, StartsAt: now.Add(-time.Hour), EndsAt: now}, now, false)
	tests := []struct {
		reason string
		alerts []*alert.Alert
		want   string
	}{
		{"first", nil, "first notification"},
		{"new", nil, "new alerts added"},
		{"repeat", nil, "repeat interval elapsed"},
		{"resolved", []*alert.Alert{firing, resolved}, "some alerts resolved"},
		{"resolved", []*alert.Alert{resolved}, "all alerts resolved"},
		{"", nil, "unknown"},
		{"something else", nil, "something else"},
	}
	for _, tt := range tests {
		m := &notifiers.Message{Reason: tt.reason, Alerts: tt.alerts, At: now}
		if got := notifiers.NotificationReason(m); got != tt.want {
			t.Errorf("NotificationReason(%q) = %q, want %q", tt.reason, got, tt.want)
		}
	}
}
