package bench

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ProbeLabel is the label whose value identifies a latency probe alert.
const ProbeLabel = "probe"

// Receiver is the webhook receiver the servers notify: /probe records
// when each probe alert first arrives, /sink takes everything else.
type Receiver struct {
	URL string // http://127.0.0.1:PORT

	srv      *http.Server
	mu       sync.Mutex
	arrivals map[string]time.Time
	sink     atomic.Int64
	probes   atomic.Int64
}

// StartReceiver listens on a free port of 127.0.0.1.
func StartReceiver() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + ln.Addr().String(), arrivals: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /probe", r.probe)
	mux.HandleFunc("POST /sink", func(w http.ResponseWriter, req *http.Request) {
		r.sink.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
	})
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

type webhookPayload struct {
	Alerts []struct {
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func (r *Receiver) probe(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	r.probes.Add(1)
	var p webhookPayload
	if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range p.Alerts {
		id := a.Labels[ProbeLabel]
		if _, seen := r.arrivals[id]; id != "" && !seen {
			r.arrivals[id] = at
		}
	}
}

// Arrival returns when probe id first arrived.
func (r *Receiver) Arrival(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.arrivals[id]
	return t, ok
}

// WaitArrival waits until probe id arrived or ctx ends.
func (r *Receiver) WaitArrival(ctx context.Context, id string) (time.Time, error) {
	for {
		if t, ok := r.Arrival(id); ok {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, errors.New("probe " + id + " not notified: " + ctx.Err().Error())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Notifications returns how many webhooks arrived at /sink and /probe.
func (r *Receiver) Notifications() (sink, probe int64) { return r.sink.Load(), r.probes.Load() }

// Close stops the receiver.
func (r *Receiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}
