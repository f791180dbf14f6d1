package incidents

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
)

// TestCompiledTextMatchesExecuteTextString renders incident templates both
// ways, parsed once (compileText) and by Alertmanager's ExecuteTextString,
// over random groups, and wants the same text and the same failures: the
// defaults, templates defined in the default set and in a file of the
// configuration, functions, missing keys and a template that fails.
func TestCompiledTextMatchesExecuteTextString(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "own.tmpl"), []byte(
		`{{ define "own.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ len .Alerts.Firing }}){{ end }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl, root, err := textTemplates([]string{filepath.Join(dir, "*.tmpl")})
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL = &url.URL{Scheme: "http", Host: "klaxon.example:9093"}
	texts := []string{
		config.DefaultIncidents.TitleTemplate,
		config.DefaultIncidents.SeverityTemplate,
		config.DefaultIncidents.ServiceTemplate,
		`{{ template "own.title" . }}`,
		`{{ template "__subject" . }}`,
		`{{ template "slack.default.title" . }}`,
		`{{ .CommonLabels.nothere }}|{{ .GroupLabels.Names | join "," }}|{{ .Receiver }}|{{ routeLabels "team" }}`,
		`{{ range .Alerts }}{{ .Labels.instance }} {{ .StartsAt | date "15:04" }};{{ end }}`,
		`{{ .CommonAnnotations.summary | title | reReplaceAll "a" "4" }}`,
		`{{ index .Alerts 7 }}`, // fails for fewer than 8 alerts
		`plain text`,
		``,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for i := range 200 {
		var alerts []*alert.Alert
		names := []string{"Down", "Slow", "Full"}
		for j := range 1 + rng.IntN(10) {
			ls := model.LabelSet{"alertname": model.LabelValue(names[rng.IntN(len(names))]), "instance": model.LabelValue(fmt.Sprint("i", j))}
			if rng.IntN(2) == 0 {
				ls["severity"] = "critical"
			}
			if rng.IntN(3) == 0 {
				ls["job"] = "node"
			}
			ends := at.Add(time.Hour)
			if rng.IntN(4) == 0 {
				ends = at.Add(-time.Minute)
			}
			alerts = append(alerts, alert.New(model.Alert{Labels: ls, StartsAt: at.Add(-time.Duration(rng.IntN(3600)) * time.Second),
				EndsAt: ends, Annotations: model.LabelSet{"summary": "a disk is almost full"}}, at, false))
		}
		data := tmpl.Data("team", model.LabelSet{"alertname": alerts[0].Labels["alertname"]}, nil, "first", alerts...)
		for _, text := range texts {
			want, wantErr := tmpl.ExecuteTextString(text, data)
			c, err := compileText(root, text)
			if err != nil {
				t.Fatalf("compile %q: %v", text, err)
			}
			got, gotErr := execText(c, data)
			if got != want || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("group %d, %q: compiled gives %q (err %v), ExecuteTextString %q (err %v)", i, text, got, gotErr, want, wantErr)
			}
		}
	}
}

// TestApplyConfigRefusesTemplateThatCannotRun: an incident template that
// parses but fails on every group is refused when applied, naming its key
// (config.Load refuses it first; ApplyConfig does not rely on that).
func TestApplyConfigRefusesTemplateThatCannotRun(t *testing.T) {
	cfg, err := config.Load([]byte("route:\n  receiver: a\nreceivers:\n  - name: a\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Incidents.SeverityTemplate = `{{ index .Alerts 3 }}`
	err = New(Options{}).ApplyConfig(cfg)
	if err == nil || !strings.Contains(err.Error(), "incidents.severity_template:") {
		t.Fatalf("ApplyConfig = %v, want an error naming incidents.severity_template", err)
	}
}
