package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
)

// onCallKeys are the top-level keys of on-call objects (package
// incidents/oncall), inlined into klaxonKeys.
type onCallKeys struct {
	Users              []oncall.User     `yaml:"users"`
	Schedules          []oncall.Schedule `yaml:"schedules"`
	EscalationPolicies []oncall.Policy   `yaml:"escalation_policies"`
}

// loadOnCall validates the file's on-call objects against each other and
// the receivers, and puts them into cfg. An error is located on the line of
// the offending field (or of the nearest enclosing one that is present).
func loadOnCall(cfg *Config, own *onCallKeys, ownText string) error {
	c := oncall.Config{Users: own.Users, Schedules: own.Schedules, Policies: own.EscalationPolicies}
	for _, r := range cfg.Alertmanager.Receivers {
		c.Receivers = append(c.Receivers, r.Name)
	}
	if err := oncall.ValidateConfig(&c); err != nil {
		var ve *oncall.ValidationError
		if errors.As(err, &ve) && ve.Path != "" {
			path := ve.Path
			if ve.Field != "" {
				path += "." + ve.Field
			}
			if line := lineOf(ownText, path); line > 0 {
				return fmt.Errorf("line %d: %s: %w", line, ve.Path, err)
			}
		}
		return err
	}
	cfg.OnCall = c
	return nil
}

// lineOf finds the line of a path such as "schedules[2].rotations[0].shift"
// in YAML text, stopping at the deepest part that exists.
func lineOf(text, path string) int {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(text), &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n, line := doc.Content[0], 0
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(idx)
			if err != nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return line
}
