package web

import (
	amconfig "github.com/prometheus/alertmanager/config"
	"gopkg.in/yaml.v3"
)

// originalConfig renders the running configuration for /api/v2/status as
// Alertmanager does (its own String, secrets hidden), minus the keys that
// Alertmanager 0.26+ fills in by default and that older clients reject:
// amtool 0.25 (Debian 12's) parses config.original strictly for `config
// routes`, and fails on these fields although the user never wrote them.
// Only values equal to those defaults are dropped, so a setting the user
// did write is still shown.
func originalConfig(cfg *amconfig.Config) string {
	text := cfg.String()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Content) == 0 {
		return text
	}
	root := doc.Content[0]
	if g := mapValue(root, "global"); g != nil {
		dropIf(g, "slack_app_url", "https://slack.com/api/chat.postMessage")
		dropIf(g, "rocketchat_api_url", "https://open.rocket.chat/")
		if tls := mapValue(g, "smtp_tls_config"); tls != nil && len(tls.Content) == 2 &&
			tls.Content[0].Value == "insecure_skip_verify" && tls.Content[1].Value == "false" {
			dropKey(g, "smtp_tls_config")
		}
	}
	if rcvs := mapValue(root, "receivers"); rcvs != nil {
		for _, rc := range rcvs.Content {
			name := mapValue(rc, "name")
			lbl := mapValue(rc, "labels")
			// Receiver labels default to {name: <receiver name>}.
			if name != nil && lbl != nil && len(lbl.Content) == 2 && lbl.Content[0].Value == "name" && lbl.Content[1].Value == name.Value {
				dropKey(rc, "labels")
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return text
	}
	return string(out)
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func dropIf(m *yaml.Node, key, value string) {
	if v := mapValue(m, key); v != nil && v.Value == value {
		dropKey(m, key)
	}
}

func dropKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
