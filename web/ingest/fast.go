package ingest

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-openapi/strfmt"
	"github.com/klaxon-dev/klaxon/internal/intern"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
)

// decodeAPIv2Fast decodes the bodies that Prometheus and other well-behaved
// senders post to /api/v2/alerts in one pass over the bytes, straight into
// Alertmanager alerts, without the intermediate JSON values and OpenAPI
// models of the reference path (decodeAPIv2Reference).
//
// It accepts only the plain shape: an array of objects whose members are
// exactly "labels", "annotations", "startsAt", "endsAt" and "generatorURL",
// each at most once, label sets of strings, and timestamps written as
// RFC 3339 in UTC ("Z"). It returns ok=false on anything else, valid or not
// (another member, a different letter case, null, a time zone offset, a
// syntax error, an alert that fails validation), and the caller then runs
// the reference path on the same body; so the fast path decides only what
// it can decide exactly as the reference would, and every error message
// comes from the reference path. FuzzFastDecoderEquivalence checks that.
func decodeAPIv2Fast(body []byte, now time.Time, resolveTimeout time.Duration) (alerts []*alert.Alert, ok bool) {
	s := scanner{buf: body}
	if !s.consume('[') {
		return nil, false
	}
	alerts = make([]*alert.Alert, 0, countObjects(body))
	var uris uriCache
	if s.consume(']') {
		return alerts, s.atEnd()
	}
	for {
		a, ok := s.alert(now, resolveTimeout, &uris)
		if !ok {
			return nil, false
		}
		alerts = append(alerts, a)
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return alerts, s.atEnd()
		}
		return nil, false
	}
}

// countObjects guesses how many alerts a body holds, for the slice's
// capacity: one per "labels" key is exact for the bodies the fast path
// accepts, and a wrong guess costs only a reallocation.
func countObjects(body []byte) int {
	return bytes.Count(body, []byte(`"labels"`))
}

// Members of a postable alert, as bits, to refuse duplicates: the
// reference decoder merges duplicated label sets, which the fast path does
// not reproduce.
const (
	haveLabels = 1 << iota
	haveAnnotations
	haveStartsAt
	haveEndsAt
	haveGeneratorURL
)

// alert decodes one postable alert and applies what the reference path
// applies: the OpenAPI schema's checks, the handler's defaults and
// alert.Validate.
func (s *scanner) alert(now time.Time, resolveTimeout time.Duration, uris *uriCache) (*alert.Alert, bool) {
	if !s.consume('{') {
		return nil, false
	}
	var (
		a    model.Alert
		seen int
	)
	if !s.consume('}') {
		for {
			key, ok := s.rawString()
			if !ok || !s.consume(':') {
				return nil, false
			}
			var bit int
			switch string(key) {
			case "labels":
				bit = haveLabels
				a.Labels, ok = s.labelSet(true)
			case "annotations":
				bit = haveAnnotations
				a.Annotations, ok = s.annotations()
			case "startsAt":
				bit = haveStartsAt
				a.StartsAt, ok = s.timestamp()
			case "endsAt":
				bit = haveEndsAt
				a.EndsAt, ok = s.timestamp()
			case "generatorURL":
				bit = haveGeneratorURL
				a.GeneratorURL, ok = s.generatorURL(uris)
			default:
				// Keys match case-insensitively in encoding/json, and
				// unknown ones are skipped: leave both to the reference.
				return nil, false
			}
			if !ok || seen&bit != 0 {
				return nil, false
			}
			seen |= bit
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return nil, false
		}
	}
	// The schema requires labels; the reference reports their absence.
	if seen&haveLabels == 0 {
		return nil, false
	}
	if a.Annotations == nil {
		a.Annotations = model.LabelSet{}
	}
	timeout := applyDefaults(&a, now, resolveTimeout)
	if alert.Validate(&a) != nil {
		return nil, false
	}
	return alert.New(a, now, timeout), true
}

// labelSet decodes a JSON object of strings. Empty label values are
// dropped, as removeEmptyLabels does after the reference decoder, and a
// repeated name keeps its last value, as encoding/json does.
func (s *scanner) labelSet(dropEmpty bool) (model.LabelSet, bool) {
	if !s.consume('{') {
		return nil, false
	}
	ls := make(model.LabelSet, 8)
	if s.consume('}') {
		return ls, true
	}
	for {
		name, ok := s.str()
		if !ok || !s.consume(':') {
			return nil, false
		}
		value, ok := s.str()
		if !ok {
			return nil, false
		}
		if dropEmpty && value == "" {
			delete(ls, model.LabelName(name))
		} else {
			ls[model.LabelName(name)] = model.LabelValue(value)
		}
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return ls, true
		}
		return nil, false
	}
}

// annotations decodes an annotation set. Alerts from one rule carry the
// same annotations, and a re-sent alert the ones it had, so equal sets are
// decoded once and shared (alerts are never modified in place: Merge and
// every other change make a new alert).
func (s *scanner) annotations() (model.LabelSet, bool) {
	s.skipSpace()
	start := s.pos
	end := flatObjectEnd(s.buf, start)
	if end < 0 || end-start > maxSharedSet {
		return s.labelSet(false)
	}
	raw := s.buf[start:end]
	sharedSets.mu.RLock()
	ls, ok := sharedSets.m[string(raw)]
	sharedSets.mu.RUnlock()
	if ok {
		s.pos = end
		return ls, true
	}
	if ls, ok = s.labelSet(false); !ok {
		return nil, false
	}
	sharedSets.mu.Lock()
	if len(sharedSets.m) >= maxSharedSets || sharedSets.m == nil {
		sharedSets.m = make(map[string]model.LabelSet)
	}
	sharedSets.m[string(raw)] = ls
	sharedSets.mu.Unlock()
	return ls, true
}

// Bounds of the shared annotation sets: their JSON length, and how many are
// kept (all are dropped when the table is full).
const (
	maxSharedSet  = 512
	maxSharedSets = 1 << 12
)

// sharedSets maps the JSON text of an annotation set to its decoded value:
// equal text decodes to an equal set.
var sharedSets struct {
	mu sync.RWMutex
	m  map[string]model.LabelSet
}

// flatObjectEnd returns the offset just past the JSON object starting at
// buf[start] if it holds no nested object or array, and -1 otherwise. It
// only delimits the object; decoding it checks it.
func flatObjectEnd(buf []byte, start int) int {
	if start >= len(buf) || buf[start] != '{' {
		return -1
	}
	inString := false
	for i := start + 1; i < len(buf); i++ {
		c := buf[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '}':
			return i + 1
		case c == '{' || c == '[':
			return -1
		}
	}
	return -1
}

// generatorURL decodes the generator URL and applies the schema's "uri"
// format. Senders put the same URL on many alerts, so the last one that
// passed is remembered.
func (s *scanner) generatorURL(c *uriCache) (string, bool) {
	u, ok := s.str()
	if !ok {
		return "", false
	}
	if u == "" || u == c.last {
		return u, true
	}
	if !strfmt.Default.Validates("uri", u) {
		return "", false
	}
	c.last = u
	return u, true
}

type uriCache struct{ last string }

// timestamp decodes "YYYY-MM-DDTHH:MM:SS[.fraction]Z", which strfmt's
// DateTime reads as the same UTC time whichever of its layouts matches, and
// which passes the schema's date-time format check. Other forms go to the
// reference path.
func (s *scanner) timestamp() (time.Time, bool) {
	raw, ok := s.rawString()
	if !ok {
		return time.Time{}, false
	}
	return parseUTCTimestamp(raw)
}

func parseUTCTimestamp(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' || b[7] != '-' || b[10] != 'T' ||
		b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		// A period and 1 to 9 digits; time.Parse would also take a comma
		// or more digits, which the reference path handles.
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// scanner reads JSON tokens from buf. Every method returns false instead
// of an error: the reference path explains what is wrong.
type scanner struct {
	buf []byte
	pos int
	// recent holds strings of this body, so that the label names and
	// values repeated from alert to alert within a body are found without
	// the shared intern table's locks and hashing.
	recent [64]string
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// consume skips white space and then c, if c is next.
func (s *scanner) consume(c byte) bool {
	s.skipSpace()
	if s.pos < len(s.buf) && s.buf[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.pos == len(s.buf)
}

// rawString returns the bytes between the quotes of a string without
// escapes, valid UTF-8 and free of control characters: exactly the string
// encoding/json would return.
func (s *scanner) rawString() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.pos
	ascii := true
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			b := s.buf[start:s.pos]
			s.pos++
			if !ascii && !utf8.Valid(b) {
				return nil, false
			}
			return b, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.pos++
	}
	return nil, false
}

// str decodes a string. Strings with escapes, which are rare in label
// sets, are decoded by encoding/json itself; the others are interned.
func (s *scanner) str() (string, bool) {
	start := s.pos
	if b, ok := s.rawString(); ok {
		return s.intern(b), true
	}
	s.pos = start
	if !s.consume('"') {
		return "", false
	}
	quote := s.pos - 1
	for s.pos < len(s.buf) {
		switch c := s.buf[s.pos]; {
		case c == '\\':
			s.pos += 2
			continue
		case c < 0x20:
			return "", false
		case c == '"':
			s.pos++
			var v string
			if json.Unmarshal(s.buf[quote:s.pos], &v) != nil {
				return "", false
			}
			return v, true
		}
		s.pos++
	}
	return "", false
}

// intern is intern with the body's recent strings in front.
func (s *scanner) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	slot := &s.recent[(len(b)*31+int(b[0])*7+int(b[len(b)-1]))%len(s.recent)]
	if *slot == string(b) {
		return *slot
	}
	v := intern.Bytes(b)
	*slot = v
	return v
}
