package web

import (
	"strings"
	"testing"
)

func TestRenderMarkdownKeepsFormatting(t *testing.T) {
	got := string(renderMarkdown("# Root cause\n\nThe **disk** filled.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [runbook](https://runbooks.example.com/disk)\n"))
	for _, want := range []string{
		"<h1", "Root cause</h1>", "<strong>disk</strong>", "<table>", "<td>1</td>",
		`href="https://runbooks.example.com/disk"`, `rel="nofollow noreferrer noopener"`, `target="_blank"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in %s", want, got)
		}
	}
}

func TestRenderMarkdownIsInert(t *testing.T) {
	for _, src := range []string{
		`<script>alert(1)</script>`,
		`<img src=x onerror="alert(1)">`,
		`[x](javascript:alert(1))`,
		`[x](JaVaScRiPt:alert(1))`,
		`<javascript:alert(1)>`,
		`![x](javascript:alert(1))`,
		`<a href="javascript:alert(1)">x</a>`,
		`<iframe src="https://evil.example"></iframe>`,
		`<div style="background:url(javascript:alert(1))" onclick="alert(1)">x</div>`,
		"[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
		"<svg onload=alert(1)>",
	} {
		got := strings.ToLower(string(renderMarkdown("before\n\n" + src + "\n\nafter")))
		for _, bad := range []string{"<script", "onerror", "onclick", "onload", `="javascript:`, "<iframe", "<svg", `="data:text`, "style="} {
			if strings.Contains(got, bad) {
				t.Errorf("%s rendered as %s: contains %q", src, got, bad)
			}
		}
		if !strings.Contains(got, "before") || !strings.Contains(got, "after") {
			t.Errorf("%s: the text around it is lost: %s", src, got)
		}
	}
}
