package rules

import (
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promrules "github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/strutil"
)

// toAlerts converts the alerts a rule sends as Prometheus's notifier
// does (rules.SendAlerts and notifier.Manager): startsAt is when the
// alert fired, endsAt its resolution or ValidUntil, external labels are
// added where the alert lacks them, and generatorURL links to the
// expression on the Prometheus.
func toAlerts(expr string, as []*promrules.Alert, ext labels.Labels, externalURL string, now time.Time) []*alert.Alert {
	out := make([]*alert.Alert, 0, len(as))
	gen := externalURL + strutil.TableLinkForExpression(expr)
	for _, a := range as {
		ls := make(model.LabelSet, a.Labels.Len()+ext.Len())
		a.Labels.Range(func(l labels.Label) { ls[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		ext.Range(func(l labels.Label) {
			if _, ok := ls[model.LabelName(l.Name)]; !ok {
				ls[model.LabelName(l.Name)] = model.LabelValue(l.Value)
			}
		})
		ann := make(model.LabelSet, a.Annotations.Len())
		a.Annotations.Range(func(l labels.Label) { ann[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		m := model.Alert{Labels: ls, Annotations: ann, StartsAt: a.FiredAt, GeneratorURL: gen}
		if !a.ResolvedAt.IsZero() {
			m.EndsAt = a.ResolvedAt
		} else {
			m.EndsAt = a.ValidUntil
		}
		out = append(out, alert.New(m, now, false))
	}
	return out
}
