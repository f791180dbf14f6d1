// Command klaxon-bench measures Klaxon on SQLite and on PostgreSQL against
// Alertmanager on this machine (ingest rate, memory, notification latency,
// start-up) and records the results in BENCHMARKS.md.
//
//	go run ./bench/cmd/klaxon-bench              # full run, about 5 minutes
//	go run ./bench/cmd/klaxon-bench -quick       # check the harness in a minute or two
//
// Run it from the repository root. It builds ./cmd/klaxon, starts
// PostgreSQL (or uses KLAXON_BENCH_POSTGRES_URL / KLAXON_TEST_POSTGRES_URL),
// and installs prometheus-alertmanager from apt if it is missing. All
// traffic stays on 127.0.0.1; everything it starts is stopped, and its
// temporary files removed, when it ends or is interrupted.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/klaxon-dev/klaxon/bench"
)

const module = "github.com/klaxon-dev/klaxon"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "klaxon-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		duration  = flag.Duration("duration", 30*time.Second, "how long the ingest and latency scenarios measure (-quick: 3s unless set)")
		targets   = flag.String("targets", strings.Join(bench.AllTargets, ","), "servers to measure: sqlite, postgres, alertmanager")
		scenarios = flag.String("scenarios", strings.Join(bench.AllScenarios, ","), "scenarios to run: ingest, memory, latency, startup")
		out       = flag.String("out", "BENCHMARKS.md", "Markdown file whose results section is replaced (\"\" for none; -quick writes only if -out is given)")
		quick     = flag.Bool("quick", false, "small sizes and short durations, to check the harness")
		workers   = flag.Int("workers", 8, "concurrent clients of the ingest scenario")
		klaxon    = flag.String("klaxon", "", "klaxon binary to use instead of building ./cmd/klaxon")
		am        = flag.String("alertmanager", "/usr/bin/prometheus-alertmanager", "Alertmanager binary (installed from apt if missing)")
		profiles  = flag.String("profiles", "", "directory for pprof profiles (default: a new directory under $TMPDIR)")
		latTrace  = flag.Bool("latency-trace", false, "take an execution trace and a CPU profile during the latency scenario, over the background groups' first flushes (slows the server: for finding where probes wait, not for figures)")
		timeout   = flag.Duration("timeout", 45*time.Minute, "stop everything after this long")
	)
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	repo, err := findRepo()
	if err != nil {
		return err
	}
	opts := bench.Options{
		Duration:           *duration,
		Quick:              *quick,
		LatencyTrace:       *latTrace,
		Workers:            *workers,
		RepoDir:            repo,
		KlaxonBinary:       *klaxon,
		AlertmanagerBinary: *am,
		ProfileDir:         *profiles,
		Command:            commandLine(),
		Logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		},
	}
	if *quick && !set["duration"] {
		opts.Duration = 3 * time.Second
	}
	if opts.Targets, err = parseList(*targets, bench.AllTargets); err != nil {
		return fmt.Errorf("-targets: %w", err)
	}
	if opts.Scenarios, err = parseList(*scenarios, bench.AllScenarios); err != nil {
		return fmt.Errorf("-scenarios: %w", err)
	}
	if opts.Workers < 1 || opts.Duration <= 0 {
		return errors.New("-workers and -duration must be positive")
	}
	if opts.ProfileDir == "" {
		opts.ProfileDir = filepath.Join(os.TempDir(), "klaxon-bench-profiles-"+time.Now().UTC().Format("20060102-150405"))
	}
	if opts.KlaxonBinary != "" {
		if opts.KlaxonBinary, err = filepath.Abs(opts.KlaxonBinary); err != nil {
			return err
		}
	}
	outPath := *out
	if *quick && !set["out"] {
		outPath = ""
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	res, err := bench.Run(ctx, opts)
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted; stopped everything it had started")
	}
	if err != nil {
		return err
	}
	if err := saveJSON(filepath.Join(opts.ProfileDir, "results.json"), res); err != nil {
		return err
	}
	report := res.Markdown()
	fmt.Println()
	fmt.Print(report)
	if outPath != "" {
		if err := bench.WriteSection(outPath, res); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "results recorded in %s\n", outPath)
	}
	if len(res.Failures) > 0 {
		return fmt.Errorf("%d scenario runs failed", len(res.Failures))
	}
	return nil
}

// saveJSON keeps the raw results beside the profiles.
func saveJSON(path string, res *bench.Results) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "raw results saved to %s\n", path)
	return nil
}

// parseList parses a comma-separated list of names out of known.
func parseList(s string, known []string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("unknown %q (want some of %s)", name, strings.Join(known, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

// findRepo returns the directory of Klaxon's go.mod, the working
// directory or one above it.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			found := sc.Scan() && strings.TrimSpace(sc.Text()) == "module "+module
			f.Close()
			if found {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run klaxon-bench inside the Klaxon repository (no go.mod of " + module + " found)")
		}
		dir = parent
	}
}

// commandLine is how to repeat this run.
func commandLine() string {
	return strings.TrimSpace("go run ./bench/cmd/klaxon-bench " + strings.Join(os.Args[1:], " "))
}
