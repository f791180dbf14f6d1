package ingest

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/prometheus/alertmanager/api/v2/models"
)

// FuzzPostableFields checks that one pass into postableFields gives what
// models.PostableAlert's own UnmarshalJSON gives, whenever it succeeds.
func FuzzPostableFields(f *testing.F) {
	addSeeds(f)
	for _, s := range []string{
		`{"labels":{"a":"b"},"annotations":{"x":"y"},"startsAt":"2026-11-25T10:00:00Z","endsAt":"2026-11-25T10:04:00.5+01:00","generatorURL":"http://p/g"}`,
		`{"Labels":{"a":"b"},"LABELS":{"c":"d"},"ENDSAT":"2026-11-25T10:00:00Z"}`,
		`{"labels":null,"annotations":null,"startsAt":null}`,
		`{"labels":{"a":"b"},"startsAt":"not a time"}`,
		`{"labels":{"a":1}}`,
		`{}`, `[]`, `1`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var flat postableFields
		if json.Unmarshal(raw, &flat) != nil {
			return
		}
		var want models.PostableAlert
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("one pass decoded %q, PostableAlert failed: %v", raw, err)
		}
		got := models.PostableAlert{Annotations: flat.Annotations, EndsAt: flat.EndsAt, StartsAt: flat.StartsAt}
		got.GeneratorURL, got.Labels = flat.GeneratorURL, flat.Labels
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoding %q: one pass %+v, PostableAlert %+v", raw, got, want)
		}
	})
}
