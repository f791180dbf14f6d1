package manifeststest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the habits hadolint would, plus Klaxon's own
// promises: a static binary on a minimal base image, run as non-root, built
// with the Go version go.mod asks for.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(repoRoot + "/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	text := regexp.MustCompile(`\\\n`).ReplaceAllString(string(data), " ")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var stages [][]string // instructions per stage
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], l)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(stages))
	}

	final := stages[len(stages)-1]
	base := strings.Fields(final[0])[1]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final image %q: want distroless/static or scratch", base)
	}
	user := ""
	for _, l := range final {
		if f := strings.Fields(l); strings.EqualFold(f[0], "USER") {
			user = f[1]
		}
		if f := strings.Fields(l); strings.EqualFold(f[0], "RUN") {
			t.Errorf("final stage runs %q: the base image has no shell", l)
		}
	}
	if user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") {
		t.Errorf("final stage USER %q: want a non-root user", user)
	}

	goMod, err := os.ReadFile(repoRoot + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(goMod)
	if goVersion == nil {
		t.Fatal("no go directive in go.mod")
	}
	if !strings.Contains(text, "ARG GO_VERSION="+string(goVersion[1])+"\n") {
		t.Errorf("Dockerfile: want ARG GO_VERSION=%s, the go directive of go.mod", goVersion[1])
	}
	build := strings.Join(stages[0], "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/klaxon", "COPY go.mod go.sum"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage: no %q", want)
		}
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if strings.EqualFold(f[0], "FROM") && !strings.Contains(f[1], ":") && f[1] != "scratch" {
			t.Errorf("%q: pin the image tag", l)
		}
	}

	ignore, err := os.ReadFile(repoRoot + "/.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "data/"} {
		if !strings.Contains("\n"+string(ignore), "\n"+want+"\n") {
			t.Errorf(".dockerignore: want %q excluded from the build context", want)
		}
	}
}
