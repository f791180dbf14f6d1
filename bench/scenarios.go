package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Scenario names, as the -scenarios flag spells them.
const (
	Ingest  = "ingest"
	Memory  = "memory"
	Latency = "latency"
	Startup = "startup"
)

// AllScenarios are the scenarios in the order they run.
var AllScenarios = []string{Ingest, Latency, Memory, Startup}

// IngestResult is the ingest scenario's outcome on one server.
type IngestResult struct {
	Accepted   int64         // alerts in 2xx answers while measuring
	Elapsed    time.Duration // measured time
	Rate       float64       // accepted alerts per second
	Errors     string        // refused and failed requests, "" if none
	ServerCPU  float64       // CPU cores the server used on average
	ClientCPU  float64       // CPU cores the benchmark itself used on average
	RequestP50 time.Duration
	RequestP99 time.Duration
}

// MemoryResult is the memory scenario's outcome on one server.
type MemoryResult struct {
	Alerts   int
	RSS      int64 // bytes, after loading and settling
	Peak     int64 // VmHWM, bytes
	LoadTime time.Duration
	Errors   string
}

// LatencyResult is the latency scenario's outcome on one server.
type LatencyResult struct {
	Probes         int           // probe alerts accepted
	Notified       int           // probes that arrived at the receiver
	P50, P99, Max  time.Duration // Lost if that many probes never arrived
	BackgroundRate float64       // background alerts/s achieved (2xx)
	// SlowestAt is when the slowest notified probe was posted, from the
	// start of the background traffic (whose groups reach group_wait 30s in).
	SlowestAt time.Duration
	// Slowest are the slowest notified probes, slowest first: where the
	// tail of the distribution comes from.
	Slowest []ProbeSample
	Errors  string
}

// ProbeSample is one notified probe: when it was posted, from the start of
// the background traffic, and how long it took to arrive.
type ProbeSample struct {
	At, Latency time.Duration
}

// slowestProbes is how many of the slowest probes a result lists.
const slowestProbes = 6

// StartupResult is the start-up scenario's outcome on one server.
type StartupResult struct {
	Ready      time.Duration // exec to /-/ready 200
	Notified   time.Duration // exec to the first probe's webhook
	AlertsHeld int           // alerts the API lists after the restart; -1 if unknown
}

// run is one benchmark run's shared state.
type run struct {
	opts     Options
	sizes    Sizes
	dir      string
	receiver *Receiver
	targets  map[string]*target
	postgres *postgres
	res      *Results
	probeSeq int
}

func (r *run) logf(format string, args ...any) { r.opts.Logf(format, args...) }

// withInstance starts a fresh server of target t, runs f on it and stops it.
func (r *run) withInstance(ctx context.Context, t *target, scenario string, f func(in *instance) error) error {
	in, err := t.fresh(ctx, filepath.Join(r.dir, scenario+"-"+t.name))
	if err != nil {
		return err
	}
	defer func() {
		if err := in.stop(); err != nil {
			r.logf("%s: %v", t.name, err)
		}
	}()
	if _, err := in.start(ctx); err != nil {
		return err
	}
	return f(in)
}

func (r *run) ingest(ctx context.Context, in *instance) (*IngestResult, error) {
	p := newPoster(in.URL, r.opts.Workers)
	defer p.close()
	mix := NewMix(r.sizes.IngestAlerts, r.sizes.IngestGroups, 5, 5, time.Now())
	var warm tally
	postAll(ctx, p, r.opts.Workers, mix.Initial(time.Now()), &warm)
	if e := warm.errorSummary(); e != "" {
		return nil, fmt.Errorf("posting the initial %d alerts: %s", r.sizes.IngestAlerts, e)
	}

	cpu0, _ := in.proc.CPUTime()
	self0, _ := selfCPUTime()
	var t tally
	elapsed := closedLoop(ctx, p, r.opts.Workers, time.Now().Add(r.opts.Duration),
		func() []Alert { return mix.Next(BatchSize, time.Now()) }, &t)
	cpu1, _ := in.proc.CPUTime()
	self1, _ := selfCPUTime()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &IngestResult{
		Accepted:   t.accepted.Load(),
		Elapsed:    elapsed,
		Rate:       float64(t.accepted.Load()) / elapsed.Seconds(),
		Errors:     t.errorSummary(),
		ServerCPU:  (cpu1 - cpu0).Seconds() / elapsed.Seconds(),
		ClientCPU:  (self1 - self0).Seconds() / elapsed.Seconds(),
		RequestP50: Percentile(t.reqTimes, 50),
		RequestP99: Percentile(t.reqTimes, 99),
	}

	// Profile the same traffic after measuring, so that profiling does
	// not slow down the servers that serve /debug/pprof in the figures.
	if status := r.status(ctx, in, "/debug/pprof/profile?seconds=1"); status == "HTTP 200" {
		d := min(r.opts.Duration, profileTime)
		var wg sync.WaitGroup
		wg.Go(func() { r.captureProfile(ctx, in, Ingest, "profile", d) })
		// An execution trace shows what the CPU profile cannot: where
		// requests wait (go tool trace -pprof=sync or -pprof=syscall).
		wg.Go(func() { r.captureProfile(ctx, in, Ingest, "trace", min(d, traceTime)) })
		closedLoop(ctx, p, r.opts.Workers, time.Now().Add(d),
			func() []Alert { return mix.Next(BatchSize, time.Now()) }, &tally{})
		wg.Wait()
	} else {
		r.res.addProfile(in.t.name, Ingest, "profile", "", "no profile: GET /debug/pprof/profile answers "+status)
	}
	return res, ctx.Err()
}

// backgroundGroupWait is the group_wait of the background traffic's route.
const backgroundGroupWait = 30 * time.Second

// profileTime bounds the CPU profile of the ingest traffic, traceTime its
// execution trace (a few seconds make a trace of tens of megabytes).
const (
	profileTime = 15 * time.Second
	traceTime   = 3 * time.Second
)

// status returns the status of GET path ("HTTP 404"), or the error.
func (r *run) status(ctx context.Context, in *instance, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := in.get(ctx, path)
	if err != nil {
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

func (r *run) memory(ctx context.Context, in *instance) (*MemoryResult, error) {
	p := newPoster(in.URL, r.opts.Workers)
	defer p.close()
	now := time.Now()
	// Valid for an hour rather than Prometheus's four minutes, so that
	// they are all still active when the start-up scenario restarts the
	// server on them.
	alerts := Population(r.sizes.MemoryAlerts, r.sizes.MemoryGroups, now, now.Add(time.Hour))
	var t tally
	took := postAll(ctx, p, r.opts.Workers, alerts, &t)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &MemoryResult{Alerts: int(t.accepted.Load()), LoadTime: took, Errors: t.errorSummary()}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(r.sizes.Settle):
	}
	var err error
	if res.RSS, res.Peak, err = in.proc.Memory(); err != nil {
		return nil, err
	}
	r.captureProfile(ctx, in, Memory, "heap", 0)
	return res, nil
}

func (r *run) latency(ctx context.Context, in *instance) (*LatencyResult, error) {
	bg := newPoster(in.URL, 8)
	defer bg.close()
	probes := newPoster(in.URL, 8)
	defer probes.close()

	mix := NewMix(r.sizes.IngestAlerts, r.sizes.IngestGroups, 5, 5, time.Now())
	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	var bgTally tally
	var wg sync.WaitGroup
	bgStart := time.Now()
	interval := time.Second * BatchSize / time.Duration(r.sizes.LatencyRate)
	wg.Go(func() {
		openLoop(bgCtx, bg, interval, 8, func() []Alert { return mix.Next(BatchSize, time.Now()) }, &bgTally)
	})
	if r.opts.LatencyTrace {
		// The background groups reach group_wait (30s) together; the
		// trace starts a second before.
		at := backgroundGroupWait - time.Second
		if at > r.opts.Duration {
			at = r.opts.Duration / 2
		}
		wg.Go(func() {
			select {
			case <-bgCtx.Done():
				return
			case <-time.After(at):
			}
			var pw sync.WaitGroup
			pw.Go(func() { r.captureProfile(ctx, in, Latency, "trace", traceTime) })
			pw.Go(func() { r.captureProfile(ctx, in, Latency, "profile", 2*traceTime) })
			pw.Wait()
		})
	}
	// Let the background traffic reach its pace first.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
	}

	sent, probeTally := r.sendProbes(ctx, in, probes, r.opts.Duration)
	stopBG()
	wg.Wait()
	bgRate := float64(bgTally.accepted.Load()) / time.Since(bgStart).Seconds()

	// Give the last probes time to arrive.
	waitCtx, cancel := context.WithTimeout(ctx, r.sizes.ProbeWait)
	defer cancel()
	res := &LatencyResult{Probes: len(sent), BackgroundRate: bgRate}
	var lat []time.Duration
	var slowest time.Duration
	for id, t0 := range sent {
		at, err := r.receiver.WaitArrival(waitCtx, id)
		if err != nil {
			lat = append(lat, Lost) // counts in the percentiles
			continue
		}
		res.Notified++
		lat = append(lat, at.Sub(t0))
		res.Slowest = append(res.Slowest, ProbeSample{At: t0.Sub(bgStart), Latency: at.Sub(t0)})
		if d := at.Sub(t0); d > slowest {
			slowest, res.SlowestAt = d, t0.Sub(bgStart)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.P50, res.P99, res.Max = Percentile(lat, 50), Percentile(lat, 99), Percentile(lat, 100)
	slices.SortFunc(res.Slowest, func(a, b ProbeSample) int { return cmp.Compare(b.Latency, a.Latency) })
	res.Slowest = res.Slowest[:min(len(res.Slowest), slowestProbes)]
	res.Errors = joinNonEmpty("; ",
		prefixed("probes: ", probeTally.errorSummary()),
		prefixed("background: ", bgTally.errorSummary()))
	return res, nil
}

// sendProbes posts a probe alert every ProbeInterval for d, and returns
// when each accepted probe was posted.
func (r *run) sendProbes(ctx context.Context, in *instance, p *poster, d time.Duration) (map[string]time.Time, *tally) {
	var mu sync.Mutex
	sent := map[string]time.Time{}
	t := &tally{}
	end := time.Now().Add(d)
	tick := time.NewTicker(r.sizes.ProbeInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for time.Now().Before(end) && ctx.Err() == nil {
		<-tick.C
		r.probeSeq++
		id := fmt.Sprintf("%s-%d", in.t.name, r.probeSeq)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			body := AppendJSON(nil, []Alert{probeAlert(id, time.Now())})
			t0 := time.Now()
			status, err := p.post(ctx, body)
			t.record(1, status, err, time.Since(t0))
			if err == nil && status/100 == 2 {
				mu.Lock()
				sent[id] = t0
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return sent, t
}

// startup restarts a server that holds the memory scenario's alerts and
// measures how long it takes to be ready and to notify a new alert.
func (r *run) startup(ctx context.Context, in *instance) (*StartupResult, error) {
	if err := in.stop(); err != nil {
		return nil, err
	}
	ready, err := in.start(ctx)
	if err != nil {
		return nil, err
	}
	res := &StartupResult{Ready: ready, AlertsHeld: -1}
	p := newPoster(in.URL, 1)
	defer p.close()
	r.probeSeq++
	id := fmt.Sprintf("%s-startup-%d", in.t.name, r.probeSeq)
	body := AppendJSON(nil, []Alert{probeAlert(id, time.Now())})
	postCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		status, err := p.post(postCtx, body)
		if err == nil && status/100 == 2 {
			break
		}
		if postCtx.Err() != nil {
			return nil, fmt.Errorf("posting a probe after the restart: status %d, %v", status, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	at, err := r.receiver.WaitArrival(postCtx, id)
	if err != nil {
		return nil, err
	}
	res.Notified = at.Sub(in.proc.Started)
	if n, err := countAlerts(ctx, in); err == nil {
		res.AlertsHeld = n - 1 // not the probe
	} else {
		r.logf("%s: counting alerts after the restart: %v", in.t.name, err)
	}
	return res, nil
}

// countAlerts returns how many alerts GET /api/v2/alerts lists.
func countAlerts(ctx context.Context, in *instance) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := in.get(ctx, "/api/v2/alerts")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /api/v2/alerts: HTTP %d", resp.StatusCode)
	}
	var list []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, err
	}
	return len(list), nil
}

// captureProfile saves /debug/pprof/KIND of the server (a CPU profile over
// d if kind is "profile") if the server serves it, and notes either way.
func (r *run) captureProfile(ctx context.Context, in *instance, scenario, kind string, d time.Duration) {
	path := "/debug/pprof/" + kind
	if kind == "profile" || kind == "trace" {
		path += fmt.Sprintf("?seconds=%d", max(1, int(d.Seconds())))
	}
	ctx, cancel := context.WithTimeout(ctx, d+time.Minute)
	defer cancel()
	resp, err := in.get(ctx, path)
	if err != nil {
		r.res.addProfile(in.t.name, scenario, kind, "", fmt.Sprintf("GET %s: %v", path, err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		r.res.addProfile(in.t.name, scenario, kind, "", fmt.Sprintf("no profile: GET %s answers HTTP %d", path, resp.StatusCode))
		return
	}
	if err := os.MkdirAll(r.opts.ProfileDir, 0o755); err != nil {
		r.res.addProfile(in.t.name, scenario, kind, "", err.Error())
		return
	}
	ext := ".pprof"
	if kind == "trace" {
		ext = ".trace"
	}
	file := filepath.Join(r.opts.ProfileDir, fmt.Sprintf("%s-%s-%s%s", in.t.name, scenario, kind, ext))
	f, err := os.Create(file)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		r.res.addProfile(in.t.name, scenario, kind, "", fmt.Sprintf("saving %s: %v", file, err))
		return
	}
	r.res.addProfile(in.t.name, scenario, kind, file, "")
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func joinNonEmpty(sep string, parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += sep
		}
		out += p
	}
	return out
}
