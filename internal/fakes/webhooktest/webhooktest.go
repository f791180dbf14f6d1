// Package webhooktest is a fake webhook receiver, kept with the other
// provider fakes of internal/fakes: a real HTTP server that records what it
// is sent and answers as scripted. Tests use it, and so can a local setup
// that wants to watch Klaxon's notifications.
package webhooktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
)

// Response is one scripted answer.
type Response struct {
	Status int // 0 means 200
	Header http.Header
	Body   string
	// Hold, if not nil, delays the answer until it is closed, to keep a
	// delivery in flight.
	Hold <-chan struct{}
}

// Request is one request as received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Status is what the server answered.
	Status int
}

// Message decodes the request's body as an Alertmanager webhook message.
func (r Request) Message() (*amwebhook.Message, error) {
	var m amwebhook.Message
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Server records requests and answers them with the scripted responses in
// order, then with 200 once the script is used up.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	script      []Response
	requests    []Request
	inFlight    int
	maxInFlight int
}

// NewServer starts a server; Close it when done.
func NewServer() *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Script appends answers for the next requests.
func (s *Server) Script(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, rs...)
}

// Requests returns the requests received so far, including those still
// being answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// MaxInFlight is the largest number of requests answered at once so far.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	resp := s.arrive(r, body)
	defer s.leave()
	if resp.Hold != nil {
		select {
		case <-resp.Hold:
		case <-r.Context().Done():
		}
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.Status)
	io.WriteString(w, resp.Body)
}

// arrive records a request and takes its scripted answer.
func (s *Server) arrive(r *http.Request, body []byte) Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := Response{Status: http.StatusOK}
	if len(s.script) > 0 {
		resp, s.script = s.script[0], s.script[1:]
		if resp.Status == 0 {
			resp.Status = http.StatusOK
		}
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Status: resp.Status})
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	return resp
}

func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
}
