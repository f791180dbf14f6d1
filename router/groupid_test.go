package router

import (
	"fmt"
	"testing"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"
)

// TestGroupIDsMatchGroupIdentity checks that the cache answers what
// groupIdentity computes, for alerts that share a group and alerts that do
// not, on routes with and without group_by, and after the tree changes.
func TestGroupIDsMatchGroupIdentity(t *testing.T) {
	const cfgText = `
route:
  receiver: a
  group_by: [alertname, cluster]
  routes:
    - receiver: b
      matchers: ['team="db"']
      group_by: ['...']
      continue: true
    - receiver: c
      matchers: ['team=~"db|web"']
    - receiver: d
      matchers: ['team="none"']
      group_by: []
receivers: [{name: a}, {name: b}, {name: c}, {name: d}]
`
	var c groupIDs
	for round := range 2 {
		cfg, err := amconfig.Load(cfgText)
		if err != nil {
			t.Fatal(err)
		}
		tree := dispatch.NewRoute(cfg.Route, nil)
		for i := range 400 {
			ls := model.LabelSet{"alertname": model.LabelValue(fmt.Sprintf("A%d", i%3)), "instance": model.LabelValue(fmt.Sprint(i))}
			if i%5 != 0 {
				ls["cluster"] = model.LabelValue(fmt.Sprintf("c%d", i%4))
			}
			ls["team"] = []model.LabelValue{"db", "web", "none", "x"}[i%4]
			for _, rt := range tree.Match(ls) {
				id, key, labels := c.identity(tree, rt, ls)
				wid, wkey, wlabels := groupIdentity(rt, ls)
				if id != wid || key != wkey || !labels.Equal(wlabels) {
					t.Fatalf("round %d, %v on %s: cache %s %s %v, groupIdentity %s %s %v",
						round, ls, rt.Key(), id, key, labels, wid, wkey, wlabels)
				}
			}
		}
	}
}
