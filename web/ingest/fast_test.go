package ingest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkFastAgrees fails if the fast decoder accepts body with a result
// other than the reference path's.
func checkFastAgrees(t *testing.T, body []byte) (accepted bool) {
	t.Helper()
	fast, ok := decodeAPIv2Fast(body, fuzzNow, 5*time.Minute)
	if !ok {
		return false
	}
	want, err := decodeAPIv2Reference(body, fuzzNow, 5*time.Minute)
	if err != nil {
		t.Fatalf("fast path accepted %q, the reference rejects it: %v", body, err)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("decoding %q:\nfast      %+v\nreference %+v", body, fast, want)
	}
	return true
}

// FuzzFastDecoderEquivalence checks that whatever the fast decoder
// accepts, the reference path accepts as the same alerts; what it declines
// goes to the reference path, so DecodeAPIv2 answers as the reference
// does on every input.
func FuzzFastDecoderEquivalence(f *testing.F) {
	addSeeds(f)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		f.Add(randomBody(rng))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFastAgrees(t, body)
	})
}

// TestFastDecoderMatchesReference runs the equivalence check on many
// random bodies built from the pieces that decide between the paths
// (escapes, empty values, repeated names, letter case, nulls, time forms),
// so that it covers them in every test run, not only when fuzzing.
func TestFastDecoderMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	accepted := 0
	const n = 5000
	for range n {
		if checkFastAgrees(t, randomBody(rng)) {
			accepted++
		}
	}
	// Both outcomes must be exercised for the comparison to mean anything.
	if accepted == 0 || accepted == n {
		t.Fatalf("fast path accepted %d of %d random bodies", accepted, n)
	}
}

// TestFastDecoderTakesPrometheusBodies checks that the bodies Prometheus
// sends take the fast path, which is what it is for.
func TestFastDecoderTakesPrometheusBodies(t *testing.T) {
	for _, body := range []string{
		`[]`,
		` [ ] `,
		`[{"labels":{"alertname":"Up","instance":"a:9100"},"annotations":{"summary":"down"},"startsAt":"2026-11-25T10:00:00.123Z","endsAt":"2026-11-25T10:04:00.123456789Z","generatorURL":"http://prometheus:9090/graph?g0.expr=up+%3D%3D+0"}]`,
		"[\n  {\"labels\": {\"a\": \"b\", \"empty\": \"\"}, \"startsAt\": \"2024-02-29T23:59:59Z\"},\n  {\"labels\": {\"a\": \"c\"}}\n]",
		`[{"labels":{"msg":"line\nbreak \"quoted\" \u00e9"},"annotations":{"d":"ünïcödé"}}]`,
		"[{\"labels\":{\"a\":\"\xff\"}}]", // encoding/json makes it U+FFFD
	} {
		if !checkFastAgrees(t, []byte(body)) {
			t.Errorf("fast path declined %s", body)
		}
	}
}

// TestFastDecoderDeclines lists shapes the fast path must leave to the
// reference path, whose result differs from a naive reading or whose error
// it alone can phrase.
func TestFastDecoderDeclines(t *testing.T) {
	for _, body := range []string{
		`null`,
		`[null]`,
		`[{}]`,
		`[{"labels":{}}]`,
		`[{"labels":null}]`,
		`[{"Labels":{"a":"b"}}]`,
		`[{"labels":{"a":"b"},"labels":{"c":"d"}}]`,
		`[{"labels":{"a":"b"},"extra":1}]`,
		`[{"labels":{"a":"b"},"startsAt":"2026-11-25T10:00:00+01:00"}]`,
		`[{"labels":{"a":"b"},"startsAt":"2026-11-25T10:00:00,5Z"}]`,
		`[{"labels":{"a":"b"},"startsAt":"2026-02-30T10:00:00Z"}]`,
		`[{"labels":{"a":"b"},"startsAt":""}]`,
		`[{"labels":{"a":"b"},"endsAt":"2026-11-25T10:00:00Z","startsAt":"2026-11-25T11:00:00Z"}]`,
		`[{"labels":{"a":"b"},"generatorURL":"::"}]`,
		`[{"labels":{"a":1}}]`,
		`[{"labels":{"a":"b"}}] x`,
		`[{"labels":{"a":"b"}},]`,
		`[{"labels":{"a":"b\x"}}]`,
	} {
		if _, ok := decodeAPIv2Fast([]byte(body), fuzzNow, 5*time.Minute); ok {
			t.Errorf("fast path accepted %s", body)
		}
		// DecodeAPIv2 as a whole still answers as the reference does.
		got, gotErr := DecodeAPIv2(strings.NewReader(body), fuzzNow, 5*time.Minute)
		want, wantErr := decodeAPIv2Reference([]byte(body), fuzzNow, 5*time.Minute)
		if !reflect.DeepEqual(got, want) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("%s: DecodeAPIv2 = %v, %v; reference %v, %v", body, got, gotErr, want, wantErr)
		}
	}
}

// TestDecodeReusesNoBodyBytes checks that decoded alerts do not refer to
// the pooled request buffer: a later body overwriting it must not change
// them.
func TestDecodeReusesNoBodyBytes(t *testing.T) {
	first := `[{"labels":{"alertname":"first-alert-name-that-is-long","x":"` + strings.Repeat("v", 200) + `"}}]`
	alerts, err := DecodeAPIv2(strings.NewReader(first), fuzzNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		other := strings.Repeat("z", len(first))
		if _, err := DecodeAPIv2(strings.NewReader(other), fuzzNow, time.Minute); err == nil {
			t.Fatal("garbage accepted")
		}
	}
	if got := string(alerts[0].Labels["alertname"]); got != "first-alert-name-that-is-long" {
		t.Fatalf("alertname changed to %q", got)
	}
	if got := string(alerts[0].Labels["x"]); got != strings.Repeat("v", 200) {
		t.Fatalf("long label changed to %q", got)
	}
}

// randomBody builds a body of a few alerts from pieces that each path may
// read differently.
func randomBody(rng *rand.Rand) []byte {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	str := func() string {
		return pick(`"a"`, `"alertname"`, `""`, `"x y"`, `"\n"`, `"\u00e9t\u00e9"`, `"é"`, `"\ud83d\ude00"`,
			`"\ud800"`, "\"\xff\"", `"a\"b"`, `"service.name"`, `"0abc"`, `"__name__"`, `"\u0000"`, `"\/"`)
	}
	ts := func() string {
		return pick(`"2026-11-25T10:00:00Z"`, `"2026-11-25T10:04:00.5Z"`, `"2026-11-25T09:00:00.123456789Z"`,
			`"2026-11-25T10:00:00.1234567891Z"`, `"2026-11-25T10:00:00+00:00"`, `"2026-11-25T11:00:00+01:00"`,
			`"0001-01-01T00:00:00Z"`, `"0000-01-01T00:00:00Z"`, `"9999-12-31T23:59:59.999Z"`, `"2026-13-01T00:00:00Z"`,
			`"2026-11-25T24:00:00Z"`, `"2026-11-25T10:00:60Z"`, `"2026-11-25 10:00:00Z"`, `"2026-11-25T10:00:00.Z"`,
			`"2026-11-25T10:00:00z"`, `"1970-01-01T00:00:00Z"`, `""`, `null`, `1`, `"\u0032026-11-25T10:00:00Z"`)
	}
	obj := func(val func() string, n int) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(str() + pick(":", " : "))
			if rng.IntN(20) == 0 {
				b.WriteString(pick("null", "1", "true", "{}", "[]"))
			} else {
				b.WriteString(val())
			}
		}
		b.WriteByte('}')
		return b.String()
	}
	member := func() string {
		switch rng.IntN(12) {
		case 0, 1, 2:
			return `"labels":` + obj(str, 1+rng.IntN(4))
		case 3, 4:
			return `"annotations":` + obj(str, rng.IntN(3))
		case 5, 6:
			return `"startsAt":` + ts()
		case 7, 8:
			return `"endsAt":` + ts()
		case 9:
			return `"generatorURL":` + pick(`"http://p:9090/graph"`, `""`, `"::"`, `"/rel"`, `"http://h/#frag"`, `"x"`)
		case 10:
			return pick(`"Labels"`, `"ENDSAT"`, `"status"`, `"labels "`) + `:` + obj(str, 1)
		}
		return pick(`"labels":null`, `"annotations":null`, `"labels":[]`)
	}
	var b bytes.Buffer
	b.WriteString(pick("[", " [", "[\n"))
	for i := range rng.IntN(4) {
		if i > 0 {
			b.WriteString(pick(",", " ,\n"))
		}
		if rng.IntN(30) == 0 {
			b.WriteString("null")
			continue
		}
		b.WriteByte('{')
		b.WriteString(`"labels":` + obj(str, 1+rng.IntN(3)))
		for range rng.IntN(5) {
			b.WriteString("," + member())
		}
		b.WriteByte('}')
	}
	b.WriteString(pick("]", "]\n", "] ", "],", "]]"))
	return b.Bytes()
}
