package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Markers delimit the results section that -out replaces in BENCHMARKS.md.
const (
	BeginMarker = "<!-- BEGIN klaxon-bench results: generated, replaced by each run with -out -->"
	EndMarker   = "<!-- END klaxon-bench results -->"
)

// ReplaceSection returns doc with the text between the markers replaced by
// section, or with section appended if doc has no markers.
func ReplaceSection(doc, section string) string {
	block := BeginMarker + "\n" + strings.TrimRight(section, "\n") + "\n" + EndMarker + "\n"
	i := strings.Index(doc, BeginMarker)
	j := strings.Index(doc, EndMarker)
	if i >= 0 && j > i {
		rest := strings.TrimPrefix(doc[j+len(EndMarker):], "\n")
		return doc[:i] + block + rest
	}
	if doc != "" && !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	if doc != "" {
		doc += "\n"
	}
	return doc + block
}

// WriteSection replaces the results section of the Markdown file at path
// (creating the file if needed) with the report of res.
func WriteSection(path string, res *Results) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(path, []byte(ReplaceSection(string(old), res.Markdown())), 0o644)
}

// Markdown is the report of a run: when and where it ran, with what, the
// table, and the details behind it.
func (r *Results) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	kind := ""
	if r.Options.Quick {
		kind = " (-quick: small sizes, for checking the harness only)"
	}
	p("## Results of %s%s\n\n", r.Started.Format("2006-01-02 15:04 MST"), kind)
	p("Command: `%s`\n\n", r.Options.Command)
	m := r.Machine
	p("Machine: %d CPUs (%s), %s memory, %s, Linux %s.\n\n", m.CPUs, m.CPUModel, gib(m.MemTotal), m.OS, m.Kernel)
	p("Versions:\n")
	for _, v := range r.Versions {
		p("- %s: %s\n", v.Name, v.Value)
	}
	p("\n")
	p("Load average (1, 5, 15 min) before the run: %s; after: %s. ", r.LoadAvg[0], r.LoadAvg[1])
	if busy(r.LoadAvg[0], m.CPUs) || busy(r.LoadAvg[1], m.CPUs) {
		p("**Other processes were running on the machine during this run**, so every absolute " +
			"figure is pessimistic; the servers ran one after the other under the same conditions, " +
			"and the ratios are the comparison to read.")
	} else {
		p("The machine was otherwise idle.")
	}
	p(" The run took %s.\n\n", r.Finished.Sub(r.Started).Round(time.Second))
	s := r.Sizes
	p("Workload: ingest re-sends %s alerts in %s groups (endsAt now+4m, as Prometheus), %d%% of each batch "+
		"new and %d%% resolving, batches of %d, %d closed-loop clients, %v; memory and start-up hold "+
		"%s alerts in %s groups; latency probes every %v, each alone in a group with group_wait 0s, "+
		"over %s alerts/s of background ingest.\n\n",
		formatInt(int64(s.IngestAlerts)), formatInt(int64(s.IngestGroups)), 5, 5, BatchSize, r.Options.Workers,
		r.Options.Duration, formatInt(int64(s.MemoryAlerts)), formatInt(int64(s.MemoryGroups)), s.ProbeInterval,
		formatInt(int64(s.LatencyRate)))
	b.WriteString(r.Table().Markdown())
	p("\n✓/✗: target met / not met in this run. Ratios are Klaxon/Alertmanager as measured here; " +
		"Alertmanager has no durable alert store, so it restarts empty (0 alerts held), which is " +
		"the point of the start-up comparison.\n\n")

	if details := r.details(); len(details) > 0 {
		p("Details:\n\n")
		for _, d := range details {
			p("- %s\n", d)
		}
		p("\n")
	}

	p("### Profiles of this run\n\n")
	profiled := false
	for _, pr := range r.Profiles {
		name := fmt.Sprintf("%s, %s scenario, %s", TargetTitle(pr.Target), pr.Scenario, pr.Kind)
		if pr.Path == "" {
			p("- %s: %s.\n", name, pr.Note)
			continue
		}
		profiled = true
		p("- %s: saved to `%s`.\n", name, pr.Path)
		if pr.Top != "" {
			p("\n  ```\n%s\n  ```\n", indent(pr.Top, "  "))
		}
	}
	if !profiled {
		p("\nNot yet profiled: no server in this run served /debug/pprof.\n")
	} else if !r.klaxonProfiled() {
		p("\nKlaxon is not yet profiled: it does not serve /debug/pprof; the harness saves its " +
			"profiles as soon as it does.\n")
	}
	return b.String()
}

func (r *Results) klaxonProfiled() bool {
	for _, pr := range r.Profiles {
		if pr.Path != "" && pr.Target != Alertmanager {
			return true
		}
	}
	return false
}

func (r *Results) details() []string {
	var out []string
	for _, name := range AllTargets {
		title := TargetTitle(name)
		if x := r.Ingest[name]; x != nil {
			d := fmt.Sprintf("%s ingest: %s alerts accepted in %v; POST p50 %s; the load generator used %.2f cores",
				title, formatInt(x.Accepted), x.Elapsed.Round(time.Millisecond), formatDuration(x.RequestP50), x.ClientCPU)
			out = append(out, d+errorsText(x.Errors))
		}
		if x := r.Latency[name]; x != nil {
			notified := fmt.Sprintf("all %d probes notified", x.Probes)
			if x.Notified < x.Probes {
				notified = fmt.Sprintf("%d of %d probes notified within %v of the last probe, the other %d count as lost in the percentiles",
					x.Notified, x.Probes, r.Sizes.ProbeWait, x.Probes-x.Notified)
			}
			d := fmt.Sprintf("%s latency: %s; max %s; the slowest notified probe was posted %v after the background ingest (%.0f alerts/s) started",
				title, notified, formatDuration(x.Max), x.SlowestAt.Round(100*time.Millisecond), x.BackgroundRate)
			if len(x.Slowest) > 0 {
				var ps []string
				for _, p := range x.Slowest {
					ps = append(ps, fmt.Sprintf("%s at %v", formatDuration(p.Latency), p.At.Round(100*time.Millisecond)))
				}
				d += "; the slowest probes: " + strings.Join(ps, ", ")
			}
			out = append(out, d+errorsText(x.Errors))
		}
		if x := r.Memory[name]; x != nil {
			d := fmt.Sprintf("%s memory: %s alerts accepted in %v, VmHWM (peak) %s",
				title, formatInt(int64(x.Alerts)), x.LoadTime.Round(time.Millisecond), mib(x.Peak))
			out = append(out, d+errorsText(x.Errors))
		}
	}
	for _, f := range r.Failures {
		out = append(out, "FAILED: "+f)
	}
	return out
}

func errorsText(e string) string {
	if e == "" {
		return "; no errors"
	}
	return "; errors: " + e
}

// busy reports whether a load average is above half the CPUs.
func busy(loadavg string, cpus int) bool {
	f := strings.Fields(loadavg)
	if len(f) == 0 {
		return false
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return err == nil && l > float64(cpus)/2
}

func gib(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + " GiB"
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
