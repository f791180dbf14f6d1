package manifeststest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const dashboardFile = "../grafana/klaxon.json"

// panel is the part of a Grafana panel this test reads.
type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // of a collapsed row
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
}

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("%s is not valid JSON", dashboardFile)
	}
	var dash struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Schema     int     `json:"schemaVersion"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" || dash.Schema == 0 {
		t.Errorf("dashboard needs uid, title and schemaVersion; got %q, %q, %d", dash.UID, dash.Title, dash.Schema)
	}
	ids := map[int]string{}
	exprs := 0
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("%s: id also used by %q", where, prev)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: bad gridPos %+v", where, p.GridPos)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, tg := range p.Targets {
				exprs++
				names := metricNames(tg.Expr)
				if len(names) == 0 {
					t.Errorf("%s: query %q selects no metric", where, tg.Expr)
				}
				for _, m := range names {
					checkMetricName(t, where, m)
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if exprs == 0 {
		t.Fatal("dashboard has no queries")
	}
	for _, v := range dash.Templating.List {
		q, _ := v.Query.(map[string]any)
		if q == nil {
			continue
		}
		s, _ := q["query"].(string)
		if inner, ok := strings.CutPrefix(s, "label_values("); ok {
			series := strings.SplitN(braces.ReplaceAllString(inner, ""), ",", 2)[0]
			for _, m := range metricNames(series) {
				checkMetricName(t, "variable "+v.Name, m)
			}
		}
	}
}

// TestComposeRules checks the metric names of the docker-compose demo's
// Prometheus rules (`klaxon rules check` in scripts/check-deploy.sh checks
// the rest).
func TestComposeRules(t *testing.T) {
	files, _ := filepath.Glob("../compose/rules/*.yml")
	if len(files) == 0 {
		t.Fatal("no rule files under deploy/compose/rules")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:")
			if !ok {
				continue
			}
			for _, m := range metricNames(expr) {
				checkMetricName(t, fmt.Sprintf("%s:%d", f, i+1), m)
			}
		}
	}
}
