package rules

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

const otherRules = `groups:
  - name: other
    interval: 10s
    rules:
      - alert: Other
        expr: up == 0
        annotations: {summary: other, runbook_url: https://runbooks.example.com/other}
`

func TestReloadWithBrokenFile(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWorld(t, db)
		w.writeRules("api.yml", lifecycleRules)
		w.writeRules("other.yml", otherRules)
		w.start(2)
		fired := firingN(t, w, 2)

		// Break api.yml: bad PromQL on line 6.
		w.writeRules("api.yml", strings.Replace(lifecycleRules, "up == 0", "up ==", 1))
		w.writeRules("other.yml", strings.Replace(otherRules, "summary: other", "summary: changed", 1))
		if err := w.m.ApplyConfig(context.Background(), w.cfg); err != nil {
			t.Fatalf("a broken rule file must not fail the reload: %v", err)
		}
		w.settle(2)
		errs := w.m.FileErrors()
		if len(errs) != 1 || !strings.HasSuffix(errs[0].File, "api.yml") || errs[0].Line != 6 || !strings.Contains(errs[0].Message, "parse") {
			t.Fatalf("want one error at api.yml:6 about the expression, got %v", errs)
		}
		apiKey := promrules.GroupKey(w.dir+"/api.yml", "api")
		if v := testutil.ToFloat64(w.m.metrics.reloadOK.WithLabelValues(apiKey)); v != 0 {
			t.Errorf("klaxon_rule_group_last_reload_successful{api} = %v, want 0", v)
		}
		otherKey := promrules.GroupKey(w.dir+"/other.yml", "other")
		if v := testutil.ToFloat64(w.m.metrics.reloadOK.WithLabelValues(otherKey)); v != 1 {
			t.Errorf("klaxon_rule_group_last_reload_successful{other} = %v, want 1", v)
		}
		w.tick(2)
		if a := w.alerts("InstanceDown")["a"]; a == nil || a.State != promrules.StateFiring || !a.FiredAt.Equal(fired) {
			t.Fatalf("the last good api.yml keeps evaluating with its state, got %+v", a)
		}
		o := w.alerts("Other")["a"]
		if o == nil || o.State != promrules.StateFiring || o.Annotations.Get("summary") != "changed" {
			t.Fatalf("the changed group keeps its alert state and uses the new rule, got %+v", o)
		}

		w.writeRules("api.yml", lifecycleRules) // fixed
		if err := w.m.ApplyConfig(context.Background(), w.cfg); err != nil {
			t.Fatal(err)
		}
		if errs := w.m.FileErrors(); len(errs) != 0 {
			t.Errorf("after the fix: no errors, got %v", errs)
		}
		if v := testutil.ToFloat64(w.m.metrics.reloadOK.WithLabelValues(apiKey)); v != 1 {
			t.Errorf("after the fix klaxon_rule_group_last_reload_successful{api} = %v, want 1", v)
		}
		if a := w.alerts("InstanceDown")["a"]; a.State != promrules.StateFiring || !a.FiredAt.Equal(fired) {
			t.Errorf("an unchanged group keeps its state across reloads, got %+v", a)
		}
	})
}

// firingN drives groups until instance a of every rule fires.
func firingN(t *testing.T, w *world, groups int) time.Time {
	t.Helper()
	w.src.set("a")
	for range 4 {
		w.tick(groups)
	}
	a := w.alerts("InstanceDown")["a"]
	if a == nil || a.State != promrules.StateFiring {
		t.Fatalf("want InstanceDown firing, got %+v", a)
	}
	return a.FiredAt
}

func TestReloadWhenFilesChange(t *testing.T) {
	db := storagetest.Open(t, "sqlite")
	w := newWorld(t, db)
	w.writeRules("api.yml", lifecycleRules)
	w.router = &recorder{}
	w.m = New(Options{DB: db, Clock: w.clock, Router: w.router, WatchInterval: w.itv, Query: w.src.query})
	if err := w.m.ApplyConfig(context.Background(), w.cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.m.Run(ctx)
	w.settle(1)

	w.writeRules("other.yml", otherRules) // a git-sync drops a new file
	w.tick(1)                             // the watcher sees it and loads it
	w.settle(2)
	names := map[string]bool{}
	for _, g := range w.m.Groups() {
		names[g.Name()] = true
	}
	if !names["api"] || !names["other"] {
		t.Fatalf("a new rule file is picked up without SIGHUP; groups: %v", names)
	}
}
