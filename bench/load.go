package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BatchSize is how many alerts each POST carries. (Prometheus sends up to
// 64 per request; the benchmark fixes 100 for every server alike.)
const BatchSize = 100

// poster posts alert batches to one server.
type poster struct {
	client *http.Client
	url    string // .../api/v2/alerts
}

func newPoster(baseURL string, conns int) *poster {
	tr := &http.Transport{
		MaxIdleConns:        conns + 4,
		MaxIdleConnsPerHost: conns + 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &poster{client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, url: baseURL + "/api/v2/alerts"}
}

func (p *poster) close() { p.client.CloseIdleConnections() }

// post sends one batch and returns the HTTP status.
func (p *poster) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// tally counts what the servers answered.
type tally struct {
	accepted atomic.Int64 // alerts in 2xx answers
	refused  atomic.Int64 // alerts in other answers
	failed   atomic.Int64 // requests without an answer
	mu       sync.Mutex
	statuses map[int]int
	lastErr  string
	reqTimes []time.Duration
}

func (t *tally) record(n int, status int, err error, took time.Duration) {
	switch {
	case err != nil:
		t.failed.Add(1)
	case status/100 == 2:
		t.accepted.Add(int64(n))
	default:
		t.refused.Add(int64(n))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.statuses == nil {
		t.statuses = map[int]int{}
	}
	if err != nil {
		t.lastErr = err.Error()
	} else {
		t.statuses[status]++
		t.reqTimes = append(t.reqTimes, took)
	}
}

// errorSummary describes refused and failed requests, or "" if none.
func (t *tally) errorSummary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	codes := make([]int, 0, len(t.statuses))
	for c := range t.statuses {
		if c/100 != 2 {
			codes = append(codes, c)
		}
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d× HTTP %d", t.statuses[c], c))
	}
	if f := t.failed.Load(); f > 0 {
		parts = append(parts, fmt.Sprintf("%d× no answer (last: %s)", f, t.lastErr))
	}
	return strings.Join(parts, ", ")
}

// closedLoop runs workers clients that each post a batch from next, wait
// for the answer and post the next, until the deadline. A client that
// gets no answer pauses briefly, so that a server that is down is not
// hammered in a tight loop.
func closedLoop(ctx context.Context, p *poster, workers int, deadline time.Time, next func() []Alert, t *tally) time.Duration {
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(time.Minute))
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var buf []byte
			for time.Now().Before(deadline) && ctx.Err() == nil {
				batch := next()
				buf = AppendJSON(buf[:0], batch)
				t0 := time.Now()
				status, err := p.post(ctx, buf)
				t.record(len(batch), status, err, time.Since(t0))
				if err != nil {
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// postAll posts alerts in batches of BatchSize with workers concurrent
// clients, and returns how long it took.
func postAll(ctx context.Context, p *poster, workers int, alerts []Alert, t *tally) time.Duration {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				i := int(next.Add(1)-1) * BatchSize
				if i >= len(alerts) {
					return
				}
				batch := alerts[i:min(i+BatchSize, len(alerts))]
				buf = AppendJSON(buf[:0], batch)
				t0 := time.Now()
				status, err := p.post(ctx, buf)
				t.record(len(batch), status, err, time.Since(t0))
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// openLoop posts one batch from next every interval, whatever the server's
// pace, with at most inflight requests at a time (a tick that finds them
// all busy is skipped and counted), until ctx ends.
func openLoop(ctx context.Context, p *poster, interval time.Duration, inflight int, next func() []Alert, t *tally) (skipped int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return skipped
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			skipped++
			continue
		}
		batch := next()
		wg.Go(func() {
			defer func() { <-sem }()
			body := AppendJSON(nil, batch)
			t0 := time.Now()
			status, err := p.post(context.WithoutCancel(ctx), body)
			t.record(len(batch), status, err, time.Since(t0))
		})
	}
}
