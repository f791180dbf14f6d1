package e2e

// The browser harness: a headless Chromium, driven with chromedp, that
// uses the web UI of a running klaxon as a person does. A browser story
// reads like this:
//
//	e, k, b := browserStory(t, "responder")
//	k.postAlerts(t, firing("alertname", "DiskFull"))
//	b.open("/alerts")
//	b.waitText(".group", "DiskFull")
//	b.click(`[data-test="silence"]`)
//	b.screenshot("silence-editor")
//
// Every wait polls a condition until it holds or browserPatience runs out; no
// story sleeps for a fixed time. Screenshots go to
// $KLAXON_TEST_ARTIFACTS_DIR/screenshots (a temporary directory without
// it), and with KLAXON_UPDATE_SCREENSHOTS=1 also to docs/screenshots, which
// the README shows.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// chromiumEnv names the Chromium binary the browser stories drive;
// scripts/test.sh sets it.
const chromiumEnv = "KLAXON_TEST_CHROMIUM_BINARY"

// browserPatience bounds every wait in a browser story. A page load goes
// through Chromium, klaxon and a live refresh interval, on machines busy
// with the rest of the suite; the stories assert what happens, never how
// fast.
const browserPatience = 2 * patience

// Screen sizes of the stories: a laptop, and a phone for the pages an
// on-call engineer opens from a notification at night.
const (
	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844
)

// browserStory is the usual start of a browser story: a fresh world on the
// embedded store, a user with role (viewer, responder or admin) named after
// it, klaxon started, and a browser logged in as that user.
func browserStory(t *testing.T, role string) (*env, *klaxon, *browser) {
	t.Helper()
	e := newEnv(t, "sqlite")
	password := e.addUser(t, role, role)
	k := e.start()
	b := k.browser(t)
	b.login(role, password)
	return e, k, b
}

// addUser creates a local user with `klaxon users add NAME --role ROLE`,
// the password on standard input as a person would type it, and returns
// the password. It works with klaxon running or not: the command writes to
// the env's store.
func (e *env) addUser(t *testing.T, name, role string) string {
	t.Helper()
	secret := make([]byte, 12)
	_, _ = rand.Read(secret)
	password := "pw-" + hex.EncodeToString(secret)
	args := []string{"users", "add", name, "--role", role}
	args = append(args, e.storeFlags()...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KLAXON_URL=") || strings.HasPrefix(kv, "KLAXON_DATABASE_URL=")
	})
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("klaxon %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return password
}

// storeFlags are the flags that point a command at the env's store.
func (e *env) storeFlags() []string {
	if e.dbURL != "" {
		return []string{"--database-url", e.dbURL}
	}
	return []string{"--storage.path", filepath.Join(e.dir, "data")}
}

// browser is one Chromium tab on a klaxon's UI, for one test.
type browser struct {
	t   *testing.T
	k   *klaxon
	ctx context.Context // the tab; every action runs on it

	mu      sync.Mutex
	console []string // console messages and uncaught exceptions
	dialogs []string // messages of the dialogs (confirm, alert) accepted
}

// browser starts a headless Chromium for the test, on a desktop-sized
// window. It is closed when the test ends; if the test failed, the page's
// console is logged.
func (k *klaxon) browser(t *testing.T) *browser {
	t.Helper()
	bin := testenv.Require(t, chromiumEnv, "Chromium")
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	b := &browser{t: t, k: k, ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("browser console:\n%s", strings.Join(b.console, "\n"))
			b.mu.Unlock()
		}
	})
	// The first action starts the browser; it must not run under a
	// timeout, which would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	b.watch()
	b.desktop()
	return b
}

// watch records the console and accepts every dialog (the UI asks
// "Expire this silence?" with confirm), remembering what it asked.
func (b *browser) watch() {
	messages := chromedp.Console(b.ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m.String())
			b.mu.Unlock()
		}
	}()
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
}

// Dialogs returns the messages of the dialogs accepted so far.
func (b *browser) Dialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.dialogs)
}

// do runs actions with browserPatience as the time limit, failing the test with
// what was being done.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserPatience)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v (page %s)", what, err, b.location())
	}
}

// desktop sizes the page as a laptop screen.
func (b *browser) desktop() {
	b.t.Helper()
	b.do("desktop viewport", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// phone sizes the page as a phone held upright (390×844 CSS pixels,
// touch, mobile viewport rules).
func (b *browser) phone() {
	b.t.Helper()
	b.do("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
}

// open navigates to a path of the klaxon under test (e.g. "/alerts") and
// waits until the page's main element is there.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.k.URL+path), chromedp.WaitVisible("body > *"))
}

// login logs in through the login page and waits until it is left.
func (b *browser) login(name, password string) {
	b.t.Helper()
	b.open("/login")
	b.fill(`input[name="username"]`, name)
	b.fill(`input[name="password"]`, password)
	b.click(`form:has(input[name="password"]) [type="submit"]`)
	b.waitJS("the login page to be left", `location.pathname !== "/login" && document.readyState === "complete"`)
}

// location is the page's URL, for messages; "" if it cannot be read.
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// path is the page's path and query, e.g. "/silences/new?filter=…".
func (b *browser) path() string {
	b.t.Helper()
	return b.evalString(`location.pathname + location.search`)
}

// click clicks the first element matching the CSS selector, once it is
// visible.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitVisible(sel), chromedp.Click(sel))
}

// fill replaces the value of an input or textarea and types text into it,
// key by key, so that the page sees the input events a person makes.
func (b *browser) fill(sel, text string) {
	b.t.Helper()
	b.do("fill "+sel,
		chromedp.WaitVisible(sel),
		script(fmt.Sprintf(`(() => {
			const el = document.querySelector(%s);
			el.focus(); el.value = "";
			el.dispatchEvent(new Event("input", {bubbles: true}));
			return true;
		})()`, jsString(sel))),
		chromedp.SendKeys(sel, text),
	)
}

// choose selects the option with value in a <select> and tells the page
// it changed.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.do("choose "+value+" in "+sel,
		chromedp.WaitVisible(sel),
		script(fmt.Sprintf(`(() => {
			const el = document.querySelector(%s);
			el.value = %s;
			el.dispatchEvent(new Event("input", {bubbles: true}));
			el.dispatchEvent(new Event("change", {bubbles: true}));
			return true;
		})()`, jsString(sel), jsString(value))),
	)
}

// script is an action that runs JavaScript in the page for its effect.
func script(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](expr)(ctx, t)
		return chromedp.Void{}, err
	}
}

// waitVisible waits until an element matching the selector is visible.
func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	b.do("wait for "+sel+" to be visible", chromedp.WaitVisible(sel))
}

// waitGone waits until no element matches the selector.
func (b *browser) waitGone(sel string) {
	b.t.Helper()
	b.waitJS(sel+" to be gone", fmt.Sprintf(`document.querySelector(%s) === null`, jsString(sel)))
}

// waitText waits until the text of some element matching the selector
// contains want, and returns that text.
func (b *browser) waitText(sel, want string) string {
	b.t.Helper()
	expr := fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).map(e => e.innerText).find(t => t.includes(%s)) ?? null`, jsString(sel), jsString(want))
	var got string
	b.poll(fmt.Sprintf("%s to show %q", sel, want), func(ctx context.Context) bool {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[*string](expr))
		if err != nil || s == nil {
			return false
		}
		got = *s
		return true
	}, func() string { return "page text: " + b.textOr("body") })
	return got
}

// waitNoText waits until no element matching the selector contains text.
func (b *browser) waitNoText(sel, text string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("no %s to show %q", sel, text), fmt.Sprintf(
		`!Array.from(document.querySelectorAll(%s)).some(e => e.innerText.includes(%s))`, jsString(sel), jsString(text)))
}

// waitJS waits until the JavaScript expression is true in the page.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	b.poll(what, func(ctx context.Context) bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		return err == nil && ok
	}, func() string { return "page text: " + b.textOr("body") })
}

// poll checks cond every 50ms until it holds, failing the test after
// browserPatience with what it waited for and the page's state. Page loads in
// between are fine: a check that fails because the page is changing is
// simply tried again.
func (b *browser) poll(what string, cond func(ctx context.Context) bool, state func() string) {
	b.t.Helper()
	deadline := time.Now().Add(browserPatience)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok := cond(ctx)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: timed out after %v waiting for %s on %s\n%s", browserPatience, what, b.location(), state())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is the rendered text of the first element matching the selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserPatience)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// textOr is text for failure messages: it does not wait, and says why
// there is none.
func (b *browser) textOr(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%s) || {}).innerText || ""`, jsString(sel))))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// eval evaluates a JavaScript expression and decodes its value into out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserPatience)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(`+expr+`) ?? "null"`))
	if err != nil {
		b.t.Fatalf("browser: eval %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(text), out); err != nil {
		b.t.Fatalf("browser: eval %s: decoding %s: %v", expr, text, err)
	}
}

// evalString evaluates a JavaScript expression that yields a string.
func (b *browser) evalString(expr string) string {
	b.t.Helper()
	var s string
	b.eval(expr, &s)
	return s
}

// evalBool evaluates a JavaScript expression that yields a boolean.
func (b *browser) evalBool(expr string) bool {
	b.t.Helper()
	var v bool
	b.eval(expr, &v)
	return v
}

// count is how many elements match the selector.
func (b *browser) count(sel string) int {
	b.t.Helper()
	var n int
	b.eval(fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)), &n)
	return n
}

// screenshot saves the whole page as NAME.png among the test artefacts,
// and in docs/screenshots when KLAXON_UPDATE_SCREENSHOTS=1.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	// Fonts and layout settle before the picture is taken.
	b.waitJS("the page to finish loading", `document.readyState === "complete" && document.fonts.status === "loaded"`)
	ctx, cancel := context.WithTimeout(b.ctx, browserPatience)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	dirs := []string{filepath.Join(artifactsDir(b.t), "screenshots")}
	if os.Getenv("KLAXON_UPDATE_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot %s", p)
	}
}

var (
	artifactsOnce sync.Once
	artifactsPath string
	artifactsErr  error
)

// artifactsDir is $KLAXON_TEST_ARTIFACTS_DIR, or one temporary directory
// for the whole test run; it outlives the test so that the files can be
// looked at.
func artifactsDir(t *testing.T) string {
	t.Helper()
	artifactsOnce.Do(func() {
		if d := os.Getenv("KLAXON_TEST_ARTIFACTS_DIR"); d != "" {
			artifactsPath = d
			return
		}
		artifactsPath, artifactsErr = os.MkdirTemp("", "klaxon-test-artifacts-")
	})
	if artifactsErr != nil {
		t.Fatal(artifactsErr)
	}
	return artifactsPath
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSpace(buf.String())
}
