package router

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/alert"
	amcommoncfg "github.com/prometheus/alertmanager/config/common"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/common/model"
)

// inhibitor mutes target alerts while a matching source alert fires, as
// Alertmanager's inhibitor does. Rules are built by Alertmanager's own
// inhibit.NewInhibitRule (so the deprecated source_match forms mean what
// they mean there); the source alerts are indexed here, by the values of
// each rule's equal labels, because the upstream cache is fed by
// Alertmanager's alert provider and reads the wall clock.
type inhibitor struct {
	rules []*inhibitRule
}

type inhibitRule struct {
	*inhibit.InhibitRule
	equal []model.LabelName // sorted, for a stable index key
	// sources holds the alerts matching the source side, keyed by the
	// values of the equal labels (a missing label is the empty value, so
	// missing equals missing, as in Alertmanager).
	sources map[string]map[model.Fingerprint]*alert.Alert
}

func newInhibitor(cfg []amcommoncfg.InhibitRule) *inhibitor {
	ih := &inhibitor{}
	for _, c := range cfg {
		r := &inhibitRule{InhibitRule: inhibit.NewInhibitRule(c), sources: map[string]map[model.Fingerprint]*alert.Alert{}}
		for ln := range r.Equal {
			r.equal = append(r.equal, ln)
		}
		slices.Sort(r.equal)
		ih.rules = append(ih.rules, r)
	}
	return ih
}

func (r *inhibitRule) key(lset model.LabelSet) string {
	var b strings.Builder
	for _, ln := range r.equal {
		b.WriteString(string(lset[ln]))
		b.WriteByte(0xff)
	}
	return b.String()
}

// set records a (a new or updated alert) as a source where it matches.
func (ih *inhibitor) set(a *alert.Alert) {
	for _, r := range ih.rules {
		if !r.SourceMatchers.Matches(a.Labels) {
			continue
		}
		k := r.key(a.Labels)
		m := r.sources[k]
		if m == nil {
			m = map[model.Fingerprint]*alert.Alert{}
			r.sources[k] = m
		}
		m[a.Fingerprint()] = a
	}
}

// remove forgets an alert that left the router.
func (ih *inhibitor) remove(a *alert.Alert) {
	for _, r := range ih.rules {
		k := r.key(a.Labels)
		if m := r.sources[k]; m != nil {
			delete(m, a.Fingerprint())
			if len(m) == 0 {
				delete(r.sources, k)
			}
		}
	}
}

// inhibitedBy returns the fingerprint of a firing alert that inhibits
// lset, as Alertmanager's Mutes does: the first rule whose target side
// matches and that has a firing source with equal labels; a source that
// also matches the target side does not count when lset itself matches
// both sides, so that such alerts do not inhibit each other.
func (ih *inhibitor) inhibitedBy(lset model.LabelSet, now time.Time) (model.Fingerprint, bool) {
	for _, r := range ih.rules {
		if !r.TargetMatchers.Matches(lset) {
			continue
		}
		twoSided := r.SourceMatchers.Matches(lset)
		var (
			best  model.Fingerprint
			found bool
		)
		// The lowest fingerprint wins so that the answer does not depend
		// on map order.
		for fp, a := range r.sources[r.key(lset)] {
			if a.ResolvedAt(now) || (twoSided && r.TargetMatchers.Matches(a.Labels)) {
				continue
			}
			if !found || fp < best {
				best, found = fp, true
			}
		}
		if found {
			return best, true
		}
	}
	return 0, false
}
