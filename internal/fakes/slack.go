package fakes

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Slack is a fake of the parts of Slack that Klaxon uses: the Web API
// methods chat.postMessage and chat.update under /api/, and incoming
// webhooks under /services/. As Slack documents
// (https://api.slack.com/methods/chat.postMessage,
// https://api.slack.com/web#posting_json), a Web API call carries its token
// as "Authorization: Bearer" or, in a form-encoded body, as the token
// argument; JSON bodies need the header. Errors are HTTP 200 with
// {"ok": false, "error": "..."}; a posted message gets a channel ID and a
// ts, and chat.update edits the message with that channel and ts. A
// scripted Fault answers instead, e.g. 429 with Retry-After as Slack's rate
// limiter does.
type Slack struct {
	token string

	mu       sync.Mutex
	faults   []Fault
	messages []*SlackMessage
	channels map[string]string // name or ID -> ID
	hooks    []SlackWebhookPost
	calls    int
	ts       int
}

// SlackMessage is a message posted through the Web API with every version
// it had, the first as posted and each later one from chat.update.
type SlackMessage struct {
	Channel  string // the channel ID Slack answered with
	TS       string
	Versions []SlackPost
}

// SlackPost is the content of one chat.postMessage or chat.update call.
type SlackPost struct {
	Text        string
	Blocks      json.RawMessage
	Attachments json.RawMessage
	Username    string
	IconEmoji   string
}

// SlackWebhookPost is one post to an incoming webhook.
type SlackWebhookPost struct {
	Path string
	Body map[string]any
}

// NewSlack returns a fake whose Web API accepts token.
func NewSlack(token string) *Slack {
	return &Slack{token: token, channels: map[string]string{}}
}

// Fail makes the next Web API calls or webhook posts fail with the
// faults, in order.
func (s *Slack) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// Messages returns the messages posted so far, oldest first.
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SlackMessage, 0, len(s.messages))
	for _, m := range s.messages {
		c := *m
		c.Versions = slices.Clone(m.Versions)
		out = append(out, c)
	}
	return out
}

// WebhookPosts returns the posts to incoming webhooks, oldest first.
func (s *Slack) WebhookPosts() []SlackWebhookPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hooks)
}

// Calls counts the requests answered, faults included.
func (s *Slack) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// ServeHTTP implements http.Handler.
// GET /_fake/messages lists what was posted, for people watching a local
// setup.
func (s *Slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/_fake/messages" {
		writeJSON(w, http.StatusOK, map[string]any{"messages": s.Messages(), "webhooks": s.WebhookPosts()})
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if f, ok := s.nextFault(); ok {
		f.write(w, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/services/"):
		s.webhook(w, r, body)
	case r.URL.Path == "/api/chat.postMessage", r.URL.Path == "/api/chat.update":
		args, errCode := s.args(r, body)
		if errCode != "" {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": errCode})
			return
		}
		if r.URL.Path == "/api/chat.postMessage" {
			writeJSON(w, http.StatusOK, s.post(args))
		} else {
			writeJSON(w, http.StatusOK, s.update(args))
		}
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (s *Slack) nextFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}, false
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f, true
}

// args decodes a Web API call's arguments from a form or JSON body and
// checks its token; it returns Slack's error code if the call is refused.
func (s *Slack) args(r *http.Request, body []byte) (map[string]string, string) {
	args := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, "invalid_form_data"
		}
		for k := range vals {
			args[k] = vals.Get(k)
		}
	case "application/json":
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, "invalid_json"
		}
		for k, v := range raw {
			var str string
			if json.Unmarshal(v, &str) == nil {
				args[k] = str
			} else {
				args[k] = string(v)
			}
		}
		// A token in a JSON body is not read: JSON needs the header.
		delete(args, "token")
	default:
		return nil, "invalid_arg_name"
	}
	token := args["token"]
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = h
	}
	switch {
	case token == "":
		return nil, "not_authed"
	case token != s.token:
		return nil, "invalid_auth"
	case args["channel"] == "":
		return nil, "channel_not_found"
	case args["text"] == "" && args["blocks"] == "" && args["attachments"] == "":
		return nil, "no_text"
	}
	for _, k := range []string{"blocks", "attachments"} {
		if v := args[k]; v != "" {
			var list []map[string]any
			if json.Unmarshal([]byte(v), &list) != nil {
				return nil, "invalid_" + k
			}
		}
	}
	return args, ""
}

func postOf(args map[string]string) SlackPost {
	p := SlackPost{Text: args["text"], Username: args["username"], IconEmoji: args["icon_emoji"]}
	if v := args["blocks"]; v != "" {
		p.Blocks = json.RawMessage(v)
	}
	if v := args["attachments"]; v != "" {
		p.Attachments = json.RawMessage(v)
	}
	return p
}

func (s *Slack) post(args map[string]string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.channels[args["channel"]]
	if !ok {
		id = fmt.Sprintf("C%08d", len(s.channels)+1)
		s.channels[args["channel"]], s.channels[id] = id, id
	}
	s.ts++
	ts := fmt.Sprintf("1700000000.%06d", s.ts)
	s.messages = append(s.messages, &SlackMessage{Channel: id, TS: ts, Versions: []SlackPost{postOf(args)}})
	return map[string]any{"ok": true, "channel": id, "ts": ts, "message": map[string]any{"text": args["text"], "ts": ts}}
}

func (s *Slack) update(args map[string]string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if args["ts"] == "" {
		return map[string]any{"ok": false, "error": "message_not_found"}
	}
	id, ok := s.channels[args["channel"]]
	if !ok {
		return map[string]any{"ok": false, "error": "channel_not_found"}
	}
	for _, m := range s.messages {
		if m.Channel == id && m.TS == args["ts"] {
			m.Versions = append(m.Versions, postOf(args))
			return map[string]any{"ok": true, "channel": id, "ts": m.TS, "text": args["text"]}
		}
	}
	return map[string]any{"ok": false, "error": "message_not_found"}
}

// webhook answers an incoming webhook post as Slack does: 200 "ok", or
// 400 with a plain-text error code.
func (s *Slack) webhook(w http.ResponseWriter, r *http.Request, body []byte) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if m["text"] == nil && m["blocks"] == nil && m["attachments"] == nil {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.hooks = append(s.hooks, SlackWebhookPost{Path: r.URL.Path, Body: m})
	s.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}
