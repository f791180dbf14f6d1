package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Options configure a run.
type Options struct {
	Duration  time.Duration // of the ingest and latency measurements
	Targets   []string      // of AllTargets
	Scenarios []string      // of AllScenarios
	Quick     bool          // small sizes, to check the harness
	Workers   int           // concurrent clients of the ingest and load
	// LatencyTrace takes an execution trace and a CPU profile of the servers that serve one
	// during the latency scenario, over the background groups' first
	// flushes; it slows the server down, so the figures of that run are
	// for finding where probes wait, not for the table.
	LatencyTrace bool

	RepoDir            string // the Klaxon module, where the binary is built
	KlaxonBinary       string // use this binary instead of building one
	AlertmanagerBinary string
	ProfileDir         string                           // where profiles are saved
	Command            string                           // the command line, for the report
	Logf               func(format string, args ...any) `json:"-"`
}

// Sizes are the workload's dimensions.
type Sizes struct {
	IngestAlerts, IngestGroups int // the re-sent window of the ingest and latency background
	MemoryAlerts, MemoryGroups int // held in the memory and start-up scenarios
	Settle                     time.Duration
	LatencyRate                int // background alerts/s during the latency scenario
	ProbeInterval              time.Duration
	ProbeWait                  time.Duration // for the last probes to arrive
}

// FullSizes are the sizes of issue 9.
var FullSizes = Sizes{
	IngestAlerts: 10_000, IngestGroups: 1_000,
	MemoryAlerts: 100_000, MemoryGroups: 10_000,
	Settle:        5 * time.Second,
	LatencyRate:   1_000,
	ProbeInterval: 100 * time.Millisecond,
	ProbeWait:     15 * time.Second,
}

// QuickSizes check that the harness works, in a minute or two.
var QuickSizes = Sizes{
	IngestAlerts: 1_000, IngestGroups: 100,
	MemoryAlerts: 10_000, MemoryGroups: 1_000,
	Settle:        time.Second,
	LatencyRate:   1_000,
	ProbeInterval: 100 * time.Millisecond,
	ProbeWait:     5 * time.Second,
}

// Results are everything a run measured.
type Results struct {
	Options  Options
	Sizes    Sizes
	Started  time.Time
	Finished time.Time
	Machine  Machine
	Versions []Version
	LoadAvg  [2]string // /proc/loadavg before and after

	Ingest  map[string]*IngestResult
	Memory  map[string]*MemoryResult
	Latency map[string]*LatencyResult
	Startup map[string]*StartupResult

	mu       sync.Mutex
	Profiles []Profile
	Failures []string // scenario runs that failed, and why
}

// Profile is a profile saved, or why there is none.
type Profile struct {
	Target, Scenario, Kind string
	Path                   string // "" if none
	Note                   string
	Top                    string // `go tool pprof -top` of a CPU profile
}

func (r *Results) addProfile(target, scenario, kind, path, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Profiles = append(r.Profiles, Profile{Target: target, Scenario: scenario, Kind: kind, Path: path, Note: note})
}

// Run builds and starts the servers and runs the scenarios. It stops
// everything it started, and removes its temporary files, before it
// returns, also when ctx is cancelled.
func Run(ctx context.Context, opts Options) (*Results, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	sizes := FullSizes
	if opts.Quick {
		sizes = QuickSizes
	}
	res := &Results{
		Options: opts, Sizes: sizes, Started: time.Now().UTC(),
		Ingest: map[string]*IngestResult{}, Memory: map[string]*MemoryResult{},
		Latency: map[string]*LatencyResult{}, Startup: map[string]*StartupResult{},
	}
	res.LoadAvg[0] = loadAvg()
	res.Machine = ReadMachine()

	dir, err := os.MkdirTemp("", "klaxon-bench.")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	r := &run{opts: opts, sizes: sizes, dir: dir, res: res, targets: map[string]*target{}}
	if r.receiver, err = StartReceiver(); err != nil {
		return nil, err
	}
	defer r.receiver.Close()
	config := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(config, []byte(Config(r.receiver.URL)), 0o644); err != nil {
		return nil, err
	}

	if err := r.prepare(ctx, config); err != nil {
		return nil, err
	}
	defer func() {
		if pg := r.postgres; pg != nil {
			pg.close()
		}
	}()

	for _, sc := range []string{Ingest, Latency, Memory} {
		if !r.wants(sc) && (sc != Memory || !r.wants(Startup)) {
			continue
		}
		for _, name := range AllTargets {
			t := r.targets[name]
			if t == nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
			r.logf("%s: %s", sc, TargetTitle(name))
			err := r.withInstance(ctx, t, sc, func(in *instance) error { return r.scenario(ctx, sc, in) })
			if err != nil {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				res.Failures = append(res.Failures, fmt.Sprintf("%s on %s: %v", sc, TargetTitle(name), err))
				r.logf("%s on %s failed: %v", sc, TargetTitle(name), err)
			}
		}
	}
	res.Finished = time.Now().UTC()
	res.LoadAvg[1] = loadAvg()
	for i, pr := range res.Profiles {
		if pr.Path != "" && pr.Kind == "profile" {
			res.Profiles[i].Top = commandOutput(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", pr.Path)
		}
	}
	return res, nil
}

func (r *run) wants(scenario string) bool { return slices.Contains(r.opts.Scenarios, scenario) }

// scenario runs scenario sc on a fresh server; the memory scenario goes
// on with the start-up one on the same store.
func (r *run) scenario(ctx context.Context, sc string, in *instance) error {
	name := in.t.name
	switch sc {
	case Ingest:
		res, err := r.ingest(ctx, in)
		if err != nil {
			return err
		}
		r.res.Ingest[name] = res
		r.logf("  %.0f alerts/s accepted, server CPU %.2f cores, load generator %.2f cores %s", res.Rate, res.ServerCPU, res.ClientCPU, res.Errors)
	case Latency:
		res, err := r.latency(ctx, in)
		if err != nil {
			return err
		}
		r.res.Latency[name] = res
		r.logf("  p50 %s p99 %s (%d/%d probes notified) %s", formatDuration(res.P50), formatDuration(res.P99), res.Notified, res.Probes, res.Errors)
	case Memory:
		res, err := r.memory(ctx, in)
		if err != nil {
			return err
		}
		if r.wants(Memory) {
			r.res.Memory[name] = res
			r.logf("  %d alerts loaded in %v, VmRSS %s %s", res.Alerts, res.LoadTime.Round(time.Millisecond), mib(res.RSS), res.Errors)
		}
		if r.wants(Startup) {
			r.logf("startup: %s", TargetTitle(name))
			st, err := r.startup(ctx, in)
			if err != nil {
				return fmt.Errorf("startup: %w", err)
			}
			r.res.Startup[name] = st
			r.logf("  ready after %s, notified after %s, %d alerts held", formatDuration(st.Ready), formatDuration(st.Notified), st.AlertsHeld)
		}
	}
	return nil
}

// prepare builds Klaxon, finds Alertmanager and starts PostgreSQL, as the
// targets need them.
func (r *run) prepare(ctx context.Context, config string) error {
	want := func(name string) bool { return slices.Contains(r.opts.Targets, name) }
	versions := []Version{{"Go", goVersion(ctx)}}
	if want(SQLite) || want(Postgres) {
		bin := r.opts.KlaxonBinary
		if bin == "" {
			bin = filepath.Join(r.dir, "klaxon")
			r.logf("building Klaxon: go build -o %s ./cmd/klaxon", bin)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/klaxon")
			cmd.Dir = r.opts.RepoDir
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build ./cmd/klaxon: %w\n%s", err, out)
			}
		}
		v := klaxonVersion(ctx, r.opts.RepoDir)
		if r.opts.KlaxonBinary != "" {
			v = fmt.Sprintf("binary %s given with -klaxon", bin)
			if fi, err := os.Stat(bin); err == nil {
				v += ", built " + fi.ModTime().UTC().Format("2006-01-02 15:04 MST")
			}
			v += "; tree: " + klaxonVersion(ctx, r.opts.RepoDir)
		} else {
			v += " (built by this run)"
		}
		versions = append(versions, Version{"Klaxon", v})
		if want(SQLite) {
			r.targets[SQLite] = &target{name: SQLite, bin: bin, config: config}
		}
		if want(Postgres) {
			pg, err := openPostgres(ctx, r.logf)
			if err != nil {
				return err
			}
			r.postgres = pg
			r.targets[Postgres] = &target{name: Postgres, bin: bin, config: config, newDatabase: pg.newDatabase}
			versions = append(versions, Version{"PostgreSQL", pg.version})
		}
	}
	if want(Alertmanager) {
		bin := r.opts.AlertmanagerBinary
		if err := needPackage(ctx, bin, "prometheus-alertmanager", r.logf); err != nil {
			return err
		}
		r.targets[Alertmanager] = &target{name: Alertmanager, bin: bin, config: config}
		versions = append(versions, Version{"Alertmanager", firstLine(commandOutput(ctx, bin, "--version"))})
	}
	if len(r.targets) == 0 {
		return errors.New("no targets")
	}
	r.res.Versions = versions
	return nil
}
