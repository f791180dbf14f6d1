// Package ingest translates inbound alert payloads into Alertmanager alerts.
// It knows nothing about storage or HTTP routing: a caller hands over a
// request body and gets back either alerts that are safe to store or an
// *Error that carries the HTTP status to answer with.
//
// Label names are checked by alert.Validate, which follows the matcher
// compatibility mode chosen process-wide by compat.InitFromFlags. Until that
// has been called, the mode is "classic" and UTF-8 label names such as
// "service.name" are rejected; Alertmanager itself calls it at startup, and
// with no feature flags that selects UTF-8 names. A server that wants to
// accept what Alertmanager accepts must therefore make the same call.
package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// webhookVersion is the only Alertmanager webhook payload version understood
// by DecodeAlertmanagerWebhook. Other senders that borrow the shape (Grafana
// sends "1") differ in field meaning, so guessing would store wrong alerts.
const webhookVersion = "4"

// maxReportedErrors bounds the error message: a client that sends ten
// thousand broken alerts needs the first few problems, not a megabyte reply.
const maxReportedErrors = 10

// Error is returned for every rejected payload so that the HTTP layer can
// answer with Status without inspecting message text. Msg names the
// offending alert and field, because the sender usually cannot see our logs.
type Error struct {
	Status int
	Msg    string
}

// Error returns Msg alone: it is written for the client, which has no use
// for a Go-side prefix.
func (e *Error) Error() string { return e.Msg }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// DecodeAPIv2 decodes the body of an Alertmanager API v2 "POST /api/v2/alerts"
// request. It applies the same defaults as Alertmanager's postAlertsHandler:
// a missing startsAt becomes endsAt (or now), and a missing endsAt becomes
// now+resolveTimeout with the Timeout flag set, so that an alert the sender
// stops re-sending resolves by itself. An empty array yields no alerts.
//
// Unlike Alertmanager, which stores the valid alerts of a batch and reports
// the rest, the batch is all or nothing: on any problem no alerts are
// returned, and the *Error lists the problems by index.
func DecodeAPIv2(r io.Reader, now time.Time, resolveTimeout time.Duration) ([]*alert.Alert, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := readBodyInto(buf, r)
	if err != nil {
		return nil, err
	}
	if alerts, ok := decodeAPIv2Fast(body, now, resolveTimeout); ok {
		return alerts, nil
	}
	return decodeAPIv2Reference(body, now, resolveTimeout)
}

// decodeAPIv2Reference decodes body as Alertmanager does, through the
// OpenAPI models and their validation, and explains every problem. It is
// the definition of what DecodeAPIv2 accepts; decodeAPIv2Fast only takes a
// shortcut for the bodies on which it is sure to agree.
func decodeAPIv2Reference(body []byte, now time.Time, resolveTimeout time.Duration) ([]*alert.Alert, error) {
	// PostableAlerts is a plain slice without its own UnmarshalJSON, so
	// decoding it element by element is equivalent to decoding it whole, and
	// lets one broken element be reported without hiding the others.
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		if e := syntaxError(body, err); e != nil {
			return nil, e
		}
		return nil, badRequest("expected a JSON array of alerts, got %s", jsonKind(body))
	}

	var probs problems
	alerts := make([]*alert.Alert, 0, len(raws))
	for i, raw := range raws {
		where := fmt.Sprintf("alert[%d]", i)
		pa, ok := decodePostable(&probs, where, raw)
		if !ok {
			continue
		}
		if err := pa.Validate(strfmt.Default); err != nil {
			for _, leaf := range leafErrors(err) {
				probs.addf("%s: %v", where, leaf)
			}
			continue
		}
		a, timeout := fromPostable(pa, now, resolveTimeout)
		if err := alert.Validate(&a); err != nil {
			probs.addf("%s: %v", where, err)
			continue
		}
		alerts = append(alerts, alert.New(a, now, timeout))
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	return alerts, nil
}

// decodePostable reports ok=false after recording why raw is not a usable
// postable alert.
func decodePostable(probs *problems, where string, raw json.RawMessage) (*models.PostableAlert, bool) {
	// Alertmanager lets a null element through its schema check and then
	// dereferences it; refuse it here instead.
	if jsonKind(raw) == "null" {
		probs.addf("%s: expected object, got null", where)
		return nil, false
	}
	// PostableAlert's own UnmarshalJSON decodes raw twice, once for each
	// part of its allOf; one pass into the same fields gives the same
	// alert. Any error goes through the original path, whose error is the
	// one reported.
	var flat postableFields
	if json.Unmarshal(raw, &flat) == nil {
		pa := &models.PostableAlert{Annotations: flat.Annotations, EndsAt: flat.EndsAt, StartsAt: flat.StartsAt}
		pa.GeneratorURL, pa.Labels = flat.GeneratorURL, flat.Labels
		return pa, true
	}
	newTarget := func() any { return new(models.PostableAlert) }
	pa := new(models.PostableAlert)
	if err := json.Unmarshal(raw, pa); err != nil {
		diagnose(probs, where, raw, newTarget, err)
		return nil, false
	}
	return pa, true
}

// postableFields are the JSON members of models.PostableAlert (its own
// and those of the embedded models.Alert), as its UnmarshalJSON reads them.
type postableFields struct {
	Annotations  models.LabelSet `json:"annotations,omitempty"`
	EndsAt       strfmt.DateTime `json:"endsAt,omitempty"`
	StartsAt     strfmt.DateTime `json:"startsAt,omitempty"`
	GeneratorURL strfmt.URI      `json:"generatorURL,omitempty"`
	Labels       models.LabelSet `json:"labels"`
}

// fromPostable mirrors OpenAPIAlertsToAlerts plus the defaulting in
// Alertmanager's postAlertsHandler. It is reimplemented rather than imported
// because the api/v2 package drags in the whole Alertmanager server.
func fromPostable(pa *models.PostableAlert, now time.Time, resolveTimeout time.Duration) (model.Alert, bool) {
	a := model.Alert{
		Labels:       toLabelSet(pa.Labels),
		Annotations:  toLabelSet(pa.Annotations),
		StartsAt:     time.Time(pa.StartsAt),
		EndsAt:       time.Time(pa.EndsAt),
		GeneratorURL: string(pa.GeneratorURL),
	}
	timeout := applyDefaults(&a, now, resolveTimeout)
	removeEmptyLabels(a.Labels)
	return a, timeout
}

// applyDefaults fills in the times Alertmanager's postAlertsHandler fills
// in: a missing start is now (or the end, if one is given), a missing end
// is now plus resolve_timeout, and such an alert is marked as timing out
// (reported true) so that a re-send extends it.
func applyDefaults(a *model.Alert, now time.Time, resolveTimeout time.Duration) bool {
	if a.StartsAt.IsZero() {
		if a.EndsAt.IsZero() {
			a.StartsAt = now
		} else {
			a.StartsAt = a.EndsAt
		}
	}
	if !a.EndsAt.IsZero() {
		return false
	}
	a.EndsAt = now.Add(resolveTimeout)
	return true
}

// DecodeAlertmanagerWebhook decodes the body an Alertmanager webhook receiver
// posts (payload version "4"), so that one Alertmanager can feed its
// notifications into this one.
//
// A firing alert gets endsAt = now+resolveTimeout and the Timeout flag,
// whatever the payload says: Alertmanager blanks endsAt of alerts that are
// still firing and keeps re-notifying while they fire, so the alert must
// resolve by itself once those notifications stop. A resolved alert keeps
// its endsAt (now if absent). As with DecodeAPIv2, any problem rejects the
// whole payload.
func DecodeAlertmanagerWebhook(r io.Reader, now time.Time, resolveTimeout time.Duration) ([]*alert.Alert, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var msg webhook.Message
	if err := json.Unmarshal(body, &msg); err != nil {
		if e := syntaxError(body, err); e != nil {
			return nil, e
		}
		return nil, diagnoseWebhook(body, err)
	}
	if msg.Version != webhookVersion {
		return nil, versionError(msg.Version)
	}
	if msg.Data == nil {
		return []*alert.Alert{}, nil
	}

	var probs problems
	alerts := make([]*alert.Alert, 0, len(msg.Alerts))
	for i, ta := range msg.Alerts {
		where := fmt.Sprintf("alerts[%d]", i)
		a, timeout, err := fromWebhook(ta, now, resolveTimeout)
		if err != nil {
			probs.addf("%s.%v", where, err)
			continue
		}
		if err := alert.Validate(&a); err != nil {
			probs.addf("%s: %v", where, err)
			continue
		}
		alerts = append(alerts, alert.New(a, now, timeout))
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	return alerts, nil
}

func fromWebhook(ta template.Alert, now time.Time, resolveTimeout time.Duration) (model.Alert, bool, error) {
	a := model.Alert{
		Labels:       toLabelSet(ta.Labels),
		Annotations:  toLabelSet(ta.Annotations),
		StartsAt:     ta.StartsAt,
		GeneratorURL: ta.GeneratorURL,
	}
	// The payload's fingerprint is ignored: it is a hash of the labels, and
	// recomputing it is what makes both formats agree on alert identity.
	var timeout bool
	switch model.AlertStatus(ta.Status) {
	case model.AlertFiring:
		if a.StartsAt.IsZero() {
			a.StartsAt = now
		}
		a.EndsAt = now.Add(resolveTimeout)
		timeout = true
	case model.AlertResolved:
		a.EndsAt = ta.EndsAt
		if a.EndsAt.IsZero() {
			a.EndsAt = now
		}
		// Same rule as the API v2 handler: an alert known only by its end
		// is taken to have started then.
		if a.StartsAt.IsZero() {
			a.StartsAt = a.EndsAt
		}
	case "":
		return a, false, fmt.Errorf("status: missing, want %q or %q", model.AlertFiring, model.AlertResolved)
	default:
		return a, false, fmt.Errorf("status: unsupported value %q, want %q or %q", ta.Status, model.AlertFiring, model.AlertResolved)
	}
	// Alertmanager never forwards empty label values, but a hand-written
	// payload might; dropping them keeps the fingerprint equal to the one the
	// same alert gets through the API v2 path.
	removeEmptyLabels(a.Labels)
	return a, timeout, nil
}

func versionError(v string) *Error {
	if v == "" {
		return badRequest("version: missing, want %q", webhookVersion)
	}
	return badRequest("version: unsupported webhook payload version %q, want %q", v, webhookVersion)
}

// diagnoseWebhook turns a failed decode of a webhook payload into a message
// that names every broken field, not just the first one encoding/json hit.
func diagnoseWebhook(body []byte, decodeErr error) error {
	members, ok := objectMembers(body)
	if !ok {
		return badRequest("expected a JSON object, got %s", jsonKind(body))
	}
	// With a foreign version the field errors are noise: the shape itself is
	// what differs.
	hasVersion := false
	for _, m := range members {
		var v string
		if strings.EqualFold(m.key, "version") {
			hasVersion = true
			if json.Unmarshal(m.raw, &v) == nil && v != webhookVersion {
				return versionError(v)
			}
		}
	}
	newMessage := func() any { return new(webhook.Message) }
	newAlert := func() any { return new(template.Alert) }
	var probs problems
	if !hasVersion {
		probs.addf("%s", versionError("").Msg)
	}
	for _, m := range members {
		err := json.Unmarshal(m.wrap(), newMessage())
		if err == nil {
			continue
		}
		var raws []json.RawMessage
		if strings.EqualFold(m.key, "alerts") && json.Unmarshal(m.raw, &raws) == nil {
			for i, raw := range raws {
				if err := json.Unmarshal(raw, newAlert()); err != nil {
					diagnose(&probs, fmt.Sprintf("alerts[%d]", i), raw, newAlert, err)
				}
			}
			continue
		}
		describeMember(&probs, "", m, err)
	}
	if probs.total == 0 {
		probs.addf("%s", describeErr(decodeErr, nil))
	}
	return probs.err()
}

// diagnose records why raw, a JSON value at path, failed to decode into the
// type made by newTarget. Each member is retried alone so that the message
// can name the field; encoding/json only names the Go struct field and stops
// at the first error from a custom unmarshaler such as a time's.
func diagnose(probs *problems, path string, raw []byte, newTarget func() any, decodeErr error) {
	members, ok := objectMembers(raw)
	if !ok {
		probs.addf("%s: expected object, got %s", path, jsonKind(raw))
		return
	}
	before := probs.total
	for _, m := range members {
		if err := json.Unmarshal(m.wrap(), newTarget()); err != nil {
			describeMember(probs, path, m, err)
		}
	}
	if probs.total == before {
		probs.addf("%s: %s", path, describeErr(decodeErr, raw))
	}
}

// describeMember records err, the result of decoding member m on its own.
func describeMember(probs *problems, path string, m member, err error) {
	if path != "" {
		path += "."
	}
	path += m.key
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && jsonKind(m.raw) == "object" && !isContainer(te.Type) {
		// A scalar was expected inside an object: a label set with a
		// non-string value. encoding/json does not say which key.
		want := expectedKind(te.Type)
		inner, _ := objectMembers(m.raw)
		found := false
		for _, im := range inner {
			if got := jsonKind(im.raw); got != want && got != "null" {
				probs.addf("%s.%s: expected %s, got %s", path, im.key, want, got)
				found = true
			}
		}
		if found {
			return
		}
	}
	probs.addf("%s: %s", path, describeErr(err, m.raw))
}

// describeErr phrases a decoding error in JSON terms. raw, if known, is the
// value that failed.
func describeErr(err error, raw []byte) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		got, _, _ := strings.Cut(te.Value, " ")
		want := expectedKind(te.Type)
		if got == want {
			// Right kind, wrong range, such as a negative truncatedAlerts.
			return fmt.Sprintf("%s out of range for %v", te.Value, te.Type)
		}
		return fmt.Sprintf("expected %s, got %s", want, got)
	}
	// The only custom unmarshalers in the payload types are timestamps, and
	// they reject anything but a string.
	if raw != nil {
		if kind := jsonKind(raw); kind != "string" && kind != "object" {
			return fmt.Sprintf("expected date-time string, got %s", kind)
		}
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("invalid date-time %q, want RFC 3339 such as \"2006-01-02T15:04:05Z\"", pe.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func isContainer(t reflect.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct, reflect.Slice, reflect.Array, reflect.Interface, reflect.Pointer:
		return true
	}
	return false
}

func expectedKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return expectedKind(t.Elem())
	}
	return t.String()
}

// jsonKind names the kind of a syntactically valid JSON value.
func jsonKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

type member struct {
	key string
	raw json.RawMessage
}

// wrap returns the member as a one-member object, so that it can be decoded
// on its own into the full target type.
func (m member) wrap() []byte {
	key, _ := json.Marshal(m.key)
	b := make([]byte, 0, len(key)+len(m.raw)+3)
	b = append(b, '{')
	b = append(b, key...)
	b = append(b, ':')
	b = append(b, m.raw...)
	return append(b, '}')
}

// objectMembers lists the members of a JSON object in document order,
// duplicates included, since encoding/json decodes every duplicate and any
// of them may be the broken one.
func objectMembers(raw []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		members = append(members, member{key: key, raw: v})
	}
	return members, true
}

// readBody reads the whole body first: the decoders need it for error
// positions, and the caller's http.MaxBytesReader bounds it.
func readBody(r io.Reader) ([]byte, error) {
	return readBodyInto(new(bytes.Buffer), r)
}

// bodies are buffers for request bodies, reused because alerts arrive in
// a steady stream of similar batches. Nothing decoded from a body refers
// to its bytes: strings are copied or interned.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps an occasional huge body from pinning its buffer.
const maxPooledBody = 4 << 20

func getBuffer() *bytes.Buffer { return bodies.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBody {
		return
	}
	b.Reset()
	bodies.Put(b)
}

// readBodyInto reads r into buf and returns its bytes, valid until buf is
// reused.
func readBodyInto(buf *bytes.Buffer, r io.Reader) ([]byte, error) {
	_, err := buf.ReadFrom(r)
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return nil, badRequest("reading request body: %v", err)
	}
	if len(bytes.Trim(body, " \t\r\n")) == 0 {
		return nil, badRequest("empty body")
	}
	return body, nil
}

// syntaxError returns nil if err is not a JSON syntax error. encoding/json
// checks the whole input before decoding, so trailing garbage after the
// value is reported here too.
func syntaxError(body []byte, err error) *Error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return nil
	}
	off := errorOffset(body, se)
	line, col := position(body, off)
	return badRequest("invalid JSON at byte offset %d (line %d, column %d): %v", off, line, col, se)
}

// errorOffset returns the 0-based offset of the byte that made the input
// invalid, or len(body) if the input ended too early. json.SyntaxError
// counts the offending byte as already read, which is one past it.
func errorOffset(body []byte, se *json.SyntaxError) int {
	off := int(min(max(se.Offset, 0), int64(len(body))))
	if off > 0 && se.Error() != "unexpected end of JSON input" {
		off--
	}
	return off
}

// position returns the 1-based line and byte column of offset in body.
func position(body []byte, offset int) (line, col int) {
	before := body[:offset]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = offset - bytes.LastIndexByte(before, '\n')
	return line, col
}

// leafErrors flattens go-openapi composite validation errors, whose Error()
// would put a multi-line report inside one entry.
func leafErrors(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		var leaves []error
		for _, e := range u.Unwrap() {
			if e != nil {
				leaves = append(leaves, leafErrors(e)...)
			}
		}
		if len(leaves) > 0 {
			return leaves
		}
	}
	return []error{err}
}

func toLabelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// removeEmptyLabels matches Alertmanager, for which an empty label value is
// the same as an absent label; keeping it would change the fingerprint.
func removeEmptyLabels(ls model.LabelSet) {
	for k, v := range ls {
		if v == "" {
			delete(ls, k)
		}
	}
}

// problems collects every problem in a payload, keeping the first few
// messages and counting the rest.
type problems struct {
	msgs  []string
	total int
}

func (p *problems) addf(format string, args ...any) {
	p.total++
	if len(p.msgs) < maxReportedErrors {
		p.msgs = append(p.msgs, fmt.Sprintf(format, args...))
	}
}

// err returns a plain nil error, not a nil *Error, when there is nothing to
// report.
func (p *problems) err() error {
	if p.total == 0 {
		return nil
	}
	msg := strings.Join(p.msgs, "; ")
	if more := p.total - len(p.msgs); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return &Error{Status: http.StatusBadRequest, Msg: msg}
}
