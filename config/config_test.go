package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "klaxon.yml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleLoads(t *testing.T) {
	cfg, err := LoadFile("../examples/klaxon.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alertmanager.Route.Receiver != "default" || cfg.Receiver("default") == nil {
		t.Fatalf("route receiver %q not loaded", cfg.Alertmanager.Route.Receiver)
	}
	if !strings.Contains(cfg.Incidents.TitleTemplate, "alertname") {
		t.Fatalf("incidents.title_template not read: %q", cfg.Incidents.TitleTemplate)
	}
	if cfg.ResolveTimeout() != 5*time.Minute {
		t.Fatalf("resolve timeout = %v", cfg.ResolveTimeout())
	}
}

// A plain alertmanager.yml, as Alertmanager's own docs show it, loads
// unchanged and Klaxon's keys take their defaults.
func TestPlainAlertmanagerConfigLoads(t *testing.T) {
	cfg, err := LoadFile("testdata/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Incidents != DefaultIncidents {
		t.Fatalf("incidents = %+v, want defaults", cfg.Incidents)
	}
	if n := len(cfg.Alertmanager.Route.Routes); n != 2 {
		t.Fatalf("%d child routes, want 2", n)
	}
	if want := filepath.Join("testdata", "templates", "*.tmpl"); cfg.Alertmanager.Templates[0] != want {
		t.Fatalf("template path %q, want it relative to the file: %q", cfg.Alertmanager.Templates[0], want)
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{
			name: "unknown alertmanager key",
			text: "route:\n  receiver: a\nreceivers:\n  - name: a\n    bogus_configs: []\n",
			want: []string{"line 5", "bogus_configs"},
		},
		{
			name: "unknown top-level key",
			text: "route:\n  receiver: a\nreceivers:\n  - name: a\nstorag: {}\n",
			want: []string{"line 5", "storag"},
		},
		{
			name: "unknown key under a Klaxon key",
			text: "route:\n  receiver: a\nreceivers:\n  - name: a\nincidents:\n  titel_template: x\n",
			want: []string{"line 6", "titel_template"},
		},
		{
			name: "Klaxon key between Alertmanager keys keeps later lines right",
			text: "incidents:\n  title_template: x\nroute:\n  receiver: a\nreceivers:\n  - name: a\n    nope: 1\n",
			want: []string{"line 7", "nope"},
		},
		{
			name: "undefined receiver",
			text: "route:\n  receiver: missing\nreceivers:\n  - name: a\n",
			want: []string{`undefined receiver "missing"`},
		},
		{
			name: "broken yaml",
			text: "route:\n  receiver: [a\n",
			want: []string{"line"},
		},
		{
			name: "no route",
			text: "receivers:\n  - name: a\n",
			want: []string{"no route"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, c.text)
			_, err := LoadFile(p)
			if err == nil {
				t.Fatal("loaded without error")
			}
			msg := err.Error()
			if !strings.Contains(msg, p) {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestOriginalIsKept(t *testing.T) {
	text := "route:\n  receiver: a\nreceivers:\n  - name: a\nincidents:\n  title_template: '{{ .Status }}'\n"
	cfg, err := LoadFile(write(t, text))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Original != text {
		t.Fatalf("Original = %q", cfg.Original)
	}
	if cfg.Incidents.TitleTemplate != "{{ .Status }}" {
		t.Fatalf("title template = %q", cfg.Incidents.TitleTemplate)
	}
}

func TestMain(m *testing.M) {
	InitMatchers(nil)
	os.Exit(m.Run())
}

// As in a default Alertmanager, UTF-8 label names are accepted in matchers.
func TestUTF8Matchers(t *testing.T) {
	text := "route:\n  receiver: a\n  routes:\n    - receiver: a\n      matchers: ['\"service.name\"=\"api\"']\nreceivers:\n  - name: a\n"
	cfg, err := LoadFile(write(t, text))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Alertmanager.Route.Routes[0].Matchers[0]
	if m.Name != "service.name" || m.Value != "api" {
		t.Fatalf("matcher = %v", m)
	}
}
