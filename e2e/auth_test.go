package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These scenarios check access control on the real binary: the first
// run, the users and tokens commands, ingestion behind a token, login
// rate limiting by client address and what a viewer may not do.

// httpSession is an HTTP client with a cookie jar that does not follow
// redirects, from a chosen loopback address (127.0.0.0/8 all reaches the
// server, so two addresses are two clients).
type httpSession struct {
	t      *testing.T
	base   string
	client *http.Client
	cookie *http.Cookie
	csrf   string
}

func newHTTPSession(t *testing.T, base, localIP string) *httpSession {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 10 * time.Second}
	return &httpSession{t: t, base: base, client: &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request; form bodies are posted as a httpSession posts a form,
// from this site (Origin).
func (b *httpSession) do(method, path string, form url.Values, header map[string]string) *http.Response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Origin", b.base)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	b.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// login posts the login form; on success it keeps the session cookie and
// its CSRF token.
func (b *httpSession) login(name, password string) *http.Response {
	b.t.Helper()
	resp := b.do(http.MethodPost, "/login", url.Values{"username": {name}, "password": {password}, "next": {"/incidents"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		return resp
	}
	for _, c := range resp.Cookies() {
		if c.Name == "klaxon_session" {
			b.cookie = c
		}
	}
	me := b.do(http.MethodGet, "/api/v1/auth/me", nil, nil)
	var m struct{ CSRFToken string }
	if err := json.NewDecoder(me.Body).Decode(&m); err != nil || m.CSRFToken == "" {
		b.t.Fatalf("me after login: %d %v", me.StatusCode, err)
	}
	b.csrf = m.CSRFToken
	return resp
}

var initialPasswordRE = regexp.MustCompile(`created user \\?"admin\\?".* password=(\S+)`)

// TestFirstRunAdmin: a fresh klaxon creates "admin" with a generated
// password, printed once and written to the storage directory (0600); it
// logs in, and a restart prints nothing again.
func TestFirstRunAdmin(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		k := e.start()
		m := initialPasswordRE.FindAllStringSubmatch(e.log.String(), -1)
		if len(m) != 1 {
			t.Fatalf("want the initial password in the log once, found %d times", len(m))
		}
		password := m[0][1]
		file := filepath.Join(e.dir, "data", "initial-admin-password")
		info, err := os.Stat(file)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("password file: %v %v", info, err)
		}
		if b, _ := os.ReadFile(file); strings.TrimSpace(string(b)) != password {
			t.Fatalf("the file and the log disagree")
		}
		b := newHTTPSession(t, k.URL, "127.0.0.1")
		if resp := b.login("admin", password); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/incidents" {
			t.Fatalf("login with the initial password: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		k.restart()
		if n := len(initialPasswordRE.FindAllString(e.log.String(), -1)); n != 1 {
			t.Fatalf("after a restart the password was printed %d times in all, want once", n)
		}
	})
}

// cliIn runs the klaxon binary with stdin.
func (e *env) cliIn(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KLAXON_URL=") || strings.HasPrefix(kv, "KLAXON_DATABASE_URL=") || strings.HasPrefix(kv, "KLAXON_TOKEN=")
	})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run klaxon %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// TestUsersCLI: klaxon users add, passwd, list and remove work on the
// store of a running server, with clear exit codes, and a viewer they
// created cannot acknowledge.
func TestUsersCLI(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		k := e.start()
		users := func(stdin string, args ...string) cliResult {
			return e.cliIn(t, stdin, append(append([]string{"users"}, args...), e.storeArgs()...)...)
		}
		if r := users("first password\n", "add", "vera", "--role", "viewer"); r.code != 0 || !strings.Contains(r.stdout, "Added user vera") {
			t.Fatalf("users add: %s", r)
		}
		for _, c := range []struct {
			stdin string
			args  []string
			code  int
		}{
			{"another password\n", []string{"add", "vera", "--role", "viewer"}, 3}, // taken
			{"another password\n", []string{"add", "ron", "--role", "root"}, 2},    // no such role
			{"short\n", []string{"add", "ron", "--role", "responder"}, 2},          // too short
			{"", []string{"add", "ron", "--role", "responder"}, 2},                 // no password
			{"a good password\n", []string{"add", "bad name", "--role", "viewer"}, 2},
			{"a good password\n", []string{"passwd", "nobody"}, 3},
			{"", []string{"remove", "nobody"}, 3},
		} {
			if r := users(c.stdin, c.args...); r.code != c.code || !strings.HasPrefix(r.stderr, "klaxon: ") {
				t.Errorf("users %s: %s\nwant exit status %d and a message", strings.Join(c.args, " "), r, c.code)
			}
		}
		if r := users("", "list"); r.code != 0 || !regexp.MustCompile(`(?m)^vera\s+viewer`).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^admin\s+admin`).MatchString(r.stdout) || strings.Contains(r.stdout, "$2a$") {
			t.Fatalf("users list: %s", r)
		}

		b := newHTTPSession(t, k.URL, "127.0.0.1")
		if resp := b.login("vera", "first password"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		// A viewer reads but cannot acknowledge.
		k.postAlerts(t, firing("alertname", "DiskFull"))
		var id int64
		waitFor(t, "an incident", func() bool {
			list := k.incidents(t)
			if len(list) == 1 {
				id = list[0].ID
			}
			return id != 0
		})
		if resp := b.do(http.MethodGet, "/api/v1/incidents", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("viewer reading: %d", resp.StatusCode)
		}
		ack := "/api/v1/incidents/" + strconv.FormatInt(id, 10) + "/ack"
		if resp := b.do(http.MethodPost, ack, nil, map[string]string{"X-CSRF-Token": b.csrf}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("viewer ack: %d, want 403", resp.StatusCode)
		}

		// A new password ends the session and replaces the old password.
		if r := users("second password\n", "passwd", "vera"); r.code != 0 {
			t.Fatalf("users passwd: %s", r)
		}
		if resp := b.do(http.MethodGet, "/api/v1/incidents", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("session after passwd: %d, want 401", resp.StatusCode)
		}
		if resp := newHTTPSession(t, k.URL, "127.0.0.1").login("vera", "first password"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("old password: %d", resp.StatusCode)
		}
		if resp := b.login("vera", "second password"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("new password: %d", resp.StatusCode)
		}
		if r := users("", "remove", "vera"); r.code != 0 {
			t.Fatalf("users remove: %s", r)
		}
		if resp := b.do(http.MethodGet, "/api/v1/incidents", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("session of a removed user: %d, want 401", resp.StatusCode)
		}
		if inc := k.incident(t, id); inc.Status != "triggered" {
			t.Errorf("incident %s after the viewer's attempt", inc.Status)
		}
	})
}

// TestLoginRateLimitByAddress: wrong passwords from one address are
// answered 429 with Retry-After; the user, from another address, still
// logs in.
func TestLoginRateLimitByAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	k := e.start()
	if r := e.cliIn(t, "the right password\n", append([]string{"users", "add", "rita", "--role", "responder"}, e.storeArgs()...)...); r.code != 0 {
		t.Fatalf("users add: %s", r)
	}
	attacker := newHTTPSession(t, k.URL, "127.0.0.1")
	var resp *http.Response
	for range 5 {
		resp = attacker.login("rita", "a guess")
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fifth failure: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := attacker.login("rita", "the right password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password from the locked address: %d", resp.StatusCode)
	}
	owner := newHTTPSession(t, k.URL, "127.0.0.2")
	if resp := owner.login("rita", "the right password"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner from another address: %d", resp.StatusCode)
	}
	// Logging out ends the session on the server.
	old := owner.cookie
	if resp := owner.do(http.MethodPost, "/logout", url.Values{"csrf_token": {owner.csrf}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	owner.cookie = old
	if resp := owner.do(http.MethodGet, "/api/v1/incidents", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed cookie after logout: %d", resp.StatusCode)
	}
}

// TestIngestNeedsToken: with auth.ingest: token, alerts need a token, as
// Prometheus sends it through basic_auth or authorization; tokens made
// with the CLI work until revoked, and a read token cannot ingest.
func TestIngestNeedsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	e.writeConfig(e.goodConfig() + "auth:\n  ingest: token\n")
	k := e.start()
	tokens := func(args ...string) cliResult {
		return e.cli(t, append(append([]string{"tokens"}, args...), e.storeArgs()...)...)
	}
	r := tokens("create", "prometheus", "--scope", "ingest", "--expires", "90d")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "klx_") || !strings.Contains(r.stderr, "not shown again") {
		t.Fatalf("tokens create: %s", r)
	}
	ingest := strings.TrimSpace(r.stdout)
	read := strings.TrimSpace(tokens("create", "grafana", "--scope", "read").stdout)
	if r := tokens("create", "x", "--scope", "write"); r.code != 2 {
		t.Errorf("bad scope: %s", r)
	}
	post := func(set func(*http.Request)) int {
		req, _ := http.NewRequest(http.MethodPost, k.URL+"/api/v2/alerts", strings.NewReader(`[{"labels": {"alertname": "X"}}]`))
		req.Header.Set("Content-Type", "application/json")
		if set != nil {
			set(req)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code := post(func(r *http.Request) { r.SetBasicAuth("prometheus", ingest) }); code != http.StatusOK {
		t.Errorf("basic_auth with the token as password: %d", code)
	}
	if code := post(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ingest) }); code != http.StatusOK {
		t.Errorf("authorization Bearer: %d", code)
	}
	if code := post(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+read) }); code != http.StatusForbidden {
		t.Errorf("read token ingesting: %d, want 403", code)
	}
	if r := tokens("list"); r.code != 0 || !strings.Contains(r.stdout, "prometheus") || strings.Contains(r.stdout, ingest) {
		t.Fatalf("tokens list: %s", r)
	}
	if r := tokens("revoke", "prometheus"); r.code != 0 {
		t.Fatalf("tokens revoke: %s", r)
	}
	if r := tokens("revoke", "prometheus"); r.code != 3 {
		t.Errorf("revoking twice: %s", r)
	}
	if code := post(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ingest) }); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", code)
	}
	// The CLI's HTTP commands take a token, and say clearly when it is
	// missing.
	if r := e.cliIn(t, "", "incidents", "list", "--klaxon.url", k.URL, "--token", read); r.code != 0 {
		t.Errorf("incidents list --token: %s", r)
	}
	if r := e.cliIn(t, "", "incidents", "list", "--klaxon.url", k.URL); r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("incidents list without a token: %s", r)
	}
}
