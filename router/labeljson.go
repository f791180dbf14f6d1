package router

import (
	"encoding/json"

	"github.com/klaxon-dev/klaxon/internal/intern"
	"github.com/prometheus/common/model"
)

// decodeStoredLabels decodes a label set as marshalLabels stored it,
// exactly as model.LabelSet's UnmarshalJSON does. Start-up decodes one or
// two per stored alert, so the plain case (an object of strings without
// escapes) is read directly, with names and values shared between alerts;
// anything else goes through encoding/json.
func decodeStoredLabels(b []byte) (model.LabelSet, error) {
	if ls, ok := scanFlatLabels(b); ok {
		valid := true
		for ln := range ls {
			//lint:ignore SA1019 the check model.LabelSet.UnmarshalJSON makes.
			valid = valid && ln.IsValid() //nolint:staticcheck
		}
		if valid {
			return ls, nil
		}
	}
	var ls model.LabelSet
	err := json.Unmarshal(b, &ls)
	return ls, err
}

// scanFlatLabels reads {"name":"value",...} with no escapes, control or
// non-ASCII bytes in any string (those go to encoding/json, which also
// handles invalid UTF-8 its own way), and nothing but JSON white space
// around the tokens.
func scanFlatLabels(b []byte) (model.LabelSet, bool) {
	i := 0
	space := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
			i++
		}
	}
	str := func() (string, bool) {
		space()
		if i >= len(b) || b[i] != '"' {
			return "", false
		}
		i++
		start := i
		for i < len(b) {
			c := b[i]
			if c == '"' {
				i++
				return internLabel(b[start : i-1]), true
			}
			if c == '\\' || c < 0x20 || c >= 0x80 {
				return "", false
			}
			i++
		}
		return "", false
	}
	next := func(c byte) bool {
		space()
		if i < len(b) && b[i] == c {
			i++
			return true
		}
		return false
	}
	if !next('{') {
		return nil, false
	}
	ls := make(model.LabelSet, 8)
	if !next('}') {
		for {
			name, ok := str()
			if !ok || !next(':') {
				return nil, false
			}
			value, ok := str()
			if !ok {
				return nil, false
			}
			ls[model.LabelName(name)] = model.LabelValue(value)
			if next(',') {
				continue
			}
			if next('}') {
				break
			}
			return nil, false
		}
	}
	space()
	return ls, i == len(b)
}

// internLabel returns b as a string shared with every other copy of the
// same label name or value, those of ingested alerts included.
func internLabel(b []byte) string { return intern.Bytes(b) }
