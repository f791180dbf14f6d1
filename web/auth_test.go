package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
)

// testAccess is access control on a fresh SQLite store, with a token that
// holds every scope.
func testAccess(t testing.TB) (Access, string) {
	t.Helper()
	db := storagetest.Open(t, "sqlite")
	svc := auth.New(auth.Options{DB: db, BcryptCost: bcrypt.MinCost})
	_, secret, err := svc.CreateToken(context.Background(), "test-admin", auth.AllScopes, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return Access{Auth: svc}, secret
}

// asAdmin builds the server of opts with access control on, and sends an
// admin token with every request that carries no credentials of its own:
// tests of the API's behaviour act as an administrator.
func asAdmin(t testing.TB, opts Options) http.Handler {
	t.Helper()
	acc, token := testAccess(t)
	opts.Access = acc
	srv := New(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		srv.ServeHTTP(w, r)
	})
}

// authWorld is a server with every part (incidents with one triggered
// incident, on-call, the router's API v2, rules) and access control
// with ingest and metrics closed, a user and a token of each role.
type authWorld struct {
	t      *testing.T
	srv    *Server
	svc    *auth.Service
	inc    *incidents.Service
	id     int64
	tokens map[string]string // by name: viewer, responder, admin, ingest
}

const authPassword = "correct horse battery"

func newAuthWorld(t *testing.T, mod func(*Options)) *authWorld {
	t.Helper()
	ctx := context.Background()
	db := storagetest.Open(t, "sqlite")
	iw := newIncidentWorld(t, db, hooksConfig, model.Alert{Labels: model.LabelSet{"alertname": "Down"}})
	cfg, clk, reg, inc, oc := iw.cfg, iw.clk, iw.reg, iw.inc, iw.oc
	rt := router.New(router.Options{DB: db, Clock: clk, Sink: discardSink{}, Registerer: prometheus.NewRegistry()})
	if err := rt.ApplyConfig(ctx, cfg.Alertmanager); err != nil {
		t.Fatal(err)
	}
	if err := rt.Load(ctx); err != nil {
		t.Fatal(err)
	}
	svc := auth.New(auth.Options{DB: db, BcryptCost: bcrypt.MinCost})
	w := &authWorld{t: t, svc: svc, inc: inc, tokens: map[string]string{}}
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"viewer", auth.RoleViewer}, {"responder", auth.RoleResponder}, {"admin", auth.RoleAdmin}} {
		if _, err := svc.AddUser(ctx, u.name, u.role, authPassword); err != nil {
			t.Fatal(err)
		}
		_, secret, err := svc.CreateToken(ctx, u.name, auth.RoleScopes(u.role), "test", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		w.tokens[u.name] = secret
	}
	var err error
	_, w.tokens["ingest"], err = svc.CreateToken(ctx, "ingest", []auth.Scope{auth.ScopeIngest}, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Router: rt, Alertmanager: rt, Incidents: inc, OnCall: oc, Rules: &stubRules{},
		AlertmanagerConfig: func() *amconfig.Config { return cfg.Alertmanager },
		ResolveTimeout:     func() time.Duration { return 5 * time.Minute },
		Reload:             func() error { return nil },
		Gatherer:           reg, Registerer: reg, Now: clk.Now,
		Access: Access{Auth: svc},
	}
	if mod != nil {
		mod(&opts)
	}
	w.srv = New(opts)
	w.id = iw.id
	return w
}

// req is one request to the world's server.
type req struct {
	method, path, body string
	header             map[string]string
	cookies            []*http.Cookie
	remote             string
}

func (w *authWorld) do(r req) *http.Response {
	w.t.Helper()
	hr := httptest.NewRequest(r.method, "http://klaxon.test"+r.path, strings.NewReader(r.body))
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.body != "" && !strings.HasPrefix(r.body, "username=") {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, hr)
	return rec.Result()
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// login posts the login form from remote and returns the answer.
func (w *authWorld) login(name, password, next, remote string) *http.Response {
	w.t.Helper()
	form := url.Values{"username": {name}, "password": {password}, "next": {next}}
	return w.do(req{method: http.MethodPost, path: "/login", body: form.Encode(), remote: remote,
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://klaxon.test"}})
}

// session logs in and returns the session cookie and CSRF token.
func (w *authWorld) session(name string) (*http.Cookie, string) {
	w.t.Helper()
	resp := w.login(name, authPassword, "", "192.0.2.10:1234")
	if resp.StatusCode != http.StatusSeeOther {
		w.t.Fatalf("login %s: %d", name, resp.StatusCode)
	}
	var c *http.Cookie
	for _, rc := range resp.Cookies() {
		if rc.Name == sessionCookie {
			c = rc
		}
	}
	if c == nil {
		w.t.Fatalf("login %s set no session cookie", name)
	}
	me := w.do(req{method: http.MethodGet, path: "/api/v1/auth/me", cookies: []*http.Cookie{c}})
	var m struct {
		Name, CSRFToken string
	}
	if err := json.NewDecoder(me.Body).Decode(&m); err != nil || m.Name != name || m.CSRFToken == "" {
		w.t.Fatalf("me: %d %+v %v", me.StatusCode, m, err)
	}
	return c, m.CSRFToken
}

func (w *authWorld) status() incidents.Status {
	w.t.Helper()
	inc, err := w.inc.Get(context.Background(), w.id)
	if err != nil {
		w.t.Fatal(err)
	}
	return inc.Status
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// walkRoutes lists every route of the server as "METHOD pattern".
func walkRoutes(t *testing.T, s *Server) []string {
	t.Helper()
	var out []string
	err := chi.Walk(s.handler.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryRouteHasARule walks the whole route tree: a route of the API,
// hooks or operational namespaces without an explicit access rule fails,
// and so does a rule naming a route that no longer exists.
func TestEveryRouteHasARule(t *testing.T) {
	w := newAuthWorld(t, nil)
	routes := walkRoutes(t, w.srv)
	seen := map[string]bool{}
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt, " ")
		if routeRule(method, pattern) == ruleUnknown {
			t.Errorf("%s has no access rule: add it to routeRules in web/auth.go", rt)
		}
		seen[rt] = true
		seen["* "+pattern] = true
	}
	for key := range routeRules {
		if !seen[key] {
			t.Errorf("routeRules names %q, which is not a route", key)
		}
	}
}

// fill replaces the route parameters of a pattern with values that reach
// the handler.
func (w *authWorld) fill(pattern string) string {
	r := strings.NewReplacer("{id}", strconv.FormatInt(w.id, 10), "{name}", "alice", "{token}", "not-a-token", "*", "")
	if strings.HasPrefix(pattern, "/api/v1/auth/tokens/") {
		// Not a token of the test, which would revoke it.
		return "/api/v1/auth/tokens/999999"
	}
	p := r.Replace(pattern)
	if strings.HasPrefix(pattern, "/api/v2/silence/") {
		p = "/api/v2/silence/3f1f7c6e-6d5b-4d8e-9e8f-1b2c3d4e5f60"
	}
	return p
}

// TestRolesOnEveryMutatingRoute sends every state-changing request of the
// route tree as a token and as a session of each role: without the scope
// its rule needs it is refused with 403 (401 without credentials), with
// it the handler answers.
func TestRolesOnEveryMutatingRoute(t *testing.T) {
	w := newAuthWorld(t, nil)
	sessions := map[string][2]string{}
	cookies := map[string]*http.Cookie{}
	for _, name := range []string{"viewer", "responder", "admin"} {
		c, csrf := w.session(name)
		cookies[name] = c
		sessions[name] = [2]string{c.Value, csrf}
	}
	scopes := map[string][]auth.Scope{
		"viewer": auth.RoleScopes(auth.RoleViewer), "responder": auth.RoleScopes(auth.RoleResponder),
		"admin": auth.RoleScopes(auth.RoleAdmin), "ingest": {auth.ScopeIngest},
	}
	checked := 0
	for _, rt := range walkRoutes(t, w.srv) {
		method, pattern, _ := strings.Cut(rt, " ")
		// Go's profiler answers every method and profiles for 30 s: its
		// rule is checked with a GET in TestIngestAuth.
		if strings.HasPrefix(pattern, "/debug/") {
			continue
		}
		switch method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		ru := routeRule(method, pattern)
		path := w.fill(pattern)
		if ru == ruleOpen || ru == ruleOwn || pattern == "/logout" {
			// Logging out is TestSessionCookieAndLogout's.
			continue
		}
		checked++
		// No credentials.
		if resp := w.do(req{method: method, path: path, body: "{}"}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", rt, resp.StatusCode)
		}
		for who, have := range scopes {
			p := &auth.Principal{Scopes: have}
			can := ru == ruleAnyone || p.Can(ru.scope())
			resp := w.do(req{method: method, path: path, body: "{}", header: bearer(w.tokens[who])})
			if denied := resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized; denied == can {
				t.Errorf("%s as %s token: %d %s (may act: %v)", rt, who, resp.StatusCode, body(resp), can)
			}
			if c, ok := cookies[who]; ok {
				resp := w.do(req{method: method, path: path, body: "{}", cookies: []*http.Cookie{c},
					header: map[string]string{csrfHeader: sessions[who][1], "Origin": "http://klaxon.test"}})
				if denied := resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized; denied == can {
					t.Errorf("%s as %s session: %d %s (may act: %v)", rt, who, resp.StatusCode, body(resp), can)
				}
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked only %d mutating routes", checked)
	}
}

func TestViewerCannotAck(t *testing.T) {
	w := newAuthWorld(t, nil)
	c, csrf := w.session("viewer")
	resp := w.do(req{method: http.MethodPost, path: "/api/v1/incidents/" + strconv.FormatInt(w.id, 10) + "/ack",
		cookies: []*http.Cookie{c}, header: map[string]string{csrfHeader: csrf, "Origin": "http://klaxon.test"}})
	if resp.StatusCode != http.StatusForbidden || w.status() != incidents.Triggered {
		t.Fatalf("viewer ack: %d, incident %s", resp.StatusCode, w.status())
	}
}

// TestCSRF: a request authenticated by the session cookie changes nothing
// without the session's token and a same-origin Origin or Referer.
func TestCSRF(t *testing.T) {
	w := newAuthWorld(t, nil)
	c, csrf := w.session("responder")
	ack := "/api/v1/incidents/" + strconv.FormatInt(w.id, 10) + "/ack"
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"no token", map[string]string{"Origin": "http://klaxon.test"}},
		{"wrong token", map[string]string{"Origin": "http://klaxon.test", csrfHeader: csrf + "x"}},
		{"other session's token", map[string]string{"Origin": "http://klaxon.test", csrfHeader: randomToken()}},
		{"cross-site origin", map[string]string{"Origin": "http://evil.example", csrfHeader: csrf}},
		{"cross-site referer", map[string]string{"Referer": "http://evil.example/page", csrfHeader: csrf}},
		{"no origin or referer", map[string]string{csrfHeader: csrf}},
	} {
		resp := w.do(req{method: http.MethodPost, path: ack, cookies: []*http.Cookie{c}, header: tc.header})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, resp.StatusCode)
		}
		if st := w.status(); st != incidents.Triggered {
			t.Fatalf("%s: incident is %s", tc.name, st)
		}
	}
	// A form post carries the token as a field.
	resp := w.do(req{method: http.MethodPost, path: "/logout", body: "csrf_token=wrong", cookies: []*http.Cookie{c},
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://klaxon.test"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a wrong form token: %d", resp.StatusCode)
	}
	// The same request with the token and from this site acts, as the user.
	resp = w.do(req{method: http.MethodPost, path: ack, body: `{"by": "mallory", "via": "ui"}`, cookies: []*http.Cookie{c},
		header: map[string]string{"Referer": "http://klaxon.test/incidents/1", csrfHeader: csrf}})
	var inc incidents.Incident
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&inc) != nil || inc.Status != incidents.Acknowledged {
		t.Fatalf("ack with token: %d", resp.StatusCode)
	}
	if inc.AckedBy == nil || inc.AckedBy.Name != "responder" || inc.AckedBy.Via != "ui" {
		t.Errorf("acked by %+v, want the session's user through the UI", inc.AckedBy)
	}
	// Tokens are not cookies: no CSRF token needed, and a token may name
	// the person it acts for.
	resp = w.do(req{method: http.MethodPost, path: "/api/v1/incidents/" + strconv.FormatInt(w.id, 10) + "/unack",
		body: `{"by": "carol", "via": "cli"}`, header: bearer(w.tokens["responder"])})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unack by token: %d %s", resp.StatusCode, body(resp))
	}
}

func TestTokens(t *testing.T) {
	w := newAuthWorld(t, nil)
	ctx := context.Background()
	ack := "/api/v1/incidents/" + strconv.FormatInt(w.id, 10) + "/ack"
	if resp := w.do(req{method: http.MethodPost, path: ack, header: bearer(w.tokens["viewer"])}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read token acking: %d, want 403", resp.StatusCode)
	}
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/incidents", header: bearer(w.tokens["ingest"])}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("ingest token reading: %d, want 403", resp.StatusCode)
	}
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/incidents", header: bearer("klx_nonsense")}); resp.StatusCode != http.StatusUnauthorized ||
		resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("unknown token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// Created through the API by an admin: the secret once, never again.
	resp := w.do(req{method: http.MethodPost, path: "/api/v1/auth/tokens", header: bearer(w.tokens["admin"]),
		body: `{"name": "ci", "scopes": ["read"], "expiresIn": "1h"}`})
	var created struct {
		ID     int64
		Secret string
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&created) != nil || !strings.HasPrefix(created.Secret, auth.TokenPrefix) {
		t.Fatalf("create token: %d", resp.StatusCode)
	}
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/incidents", header: bearer(created.Secret)}); resp.StatusCode != http.StatusOK {
		t.Fatalf("new token: %d", resp.StatusCode)
	}
	list := body(w.do(req{method: http.MethodGet, path: "/api/v1/auth/tokens", header: bearer(w.tokens["admin"])}))
	if strings.Contains(list, created.Secret) || strings.Contains(strings.ToLower(list), "hash") || !strings.Contains(list, `"ci"`) {
		t.Errorf("token list shows a secret or misses the token: %s", list)
	}
	users := body(w.do(req{method: http.MethodGet, path: "/api/v1/auth/users", header: bearer(w.tokens["admin"])}))
	if strings.Contains(strings.ToLower(users), "hash") || strings.Contains(users, "$2a$") || !strings.Contains(users, `"responder"`) {
		t.Errorf("user list: %s", users)
	}
	// Revoked: 401 at once.
	if resp := w.do(req{method: http.MethodDelete, path: "/api/v1/auth/tokens/" + strconv.FormatInt(created.ID, 10), header: bearer(w.tokens["admin"])}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/incidents", header: bearer(created.Secret)}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
	// Expired: 401.
	_, short, err := w.svc.CreateToken(ctx, "short", []auth.Scope{auth.ScopeRead}, "test", time.Now().Add(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for w.do(req{method: http.MethodGet, path: "/api/v1/incidents", header: bearer(short)}).StatusCode == http.StatusOK {
		time.Sleep(10 * time.Millisecond)
	}
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/incidents", header: bearer(short)}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %d, want 401", resp.StatusCode)
	}
	// Bad input names the field.
	if resp := w.do(req{method: http.MethodPost, path: "/api/v1/auth/tokens", header: bearer(w.tokens["admin"]),
		body: `{"name": "x", "scopes": ["write"]}`}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body(resp), "scope") {
		t.Errorf("bad scope: %d", resp.StatusCode)
	}
}

// TestIngestAuth: with ingest closed, Prometheus's basic_auth (a token as
// the password, or a user's password) and authorization (Bearer) work.
func TestIngestAuth(t *testing.T) {
	w := newAuthWorld(t, nil)
	alerts := `[{"labels": {"alertname": "X"}}]`
	post := func(h map[string]string) int {
		return w.do(req{method: http.MethodPost, path: "/api/v2/alerts", body: alerts, header: h}).StatusCode
	}
	basic := func(user, pw string) map[string]string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pw)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	for name, tc := range map[string]struct {
		h    map[string]string
		want int
	}{
		"none":              {nil, http.StatusUnauthorized},
		"bearer ingest":     {bearer(w.tokens["ingest"]), http.StatusOK},
		"bearer read":       {bearer(w.tokens["viewer"]), http.StatusForbidden},
		"basic token":       {basic("prometheus", w.tokens["ingest"]), http.StatusOK},
		"basic admin user":  {basic("admin", authPassword), http.StatusOK},
		"basic wrong pw":    {basic("admin", "wrong password"), http.StatusUnauthorized},
		"basic viewer user": {basic("viewer", authPassword), http.StatusForbidden},
		"unknown scheme":    {map[string]string{"Authorization": "Digest x"}, http.StatusUnauthorized},
	} {
		if got := post(tc.h); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
	}
	open := newAuthWorld(t, func(o *Options) { o.Access.IngestOpen, o.Access.MetricsOpen = true, true })
	if code := open.do(req{method: http.MethodPost, path: "/api/v2/alerts", body: alerts}).StatusCode; code != http.StatusOK {
		t.Errorf("open ingest: %d", code)
	}
	if code := open.do(req{method: http.MethodGet, path: "/metrics"}).StatusCode; code != http.StatusOK {
		t.Errorf("open metrics: %d", code)
	}
	if code := w.do(req{method: http.MethodGet, path: "/metrics"}).StatusCode; code != http.StatusUnauthorized {
		t.Errorf("closed metrics: %d", code)
	}
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		if code := w.do(req{method: http.MethodGet, path: p}).StatusCode; code != http.StatusOK {
			t.Errorf("%s: %d", p, code)
		}
	}
	if code := w.do(req{method: http.MethodGet, path: "/debug/pprof/", header: bearer(w.tokens["responder"])}).StatusCode; code != http.StatusForbidden {
		t.Errorf("pprof as responder: %d", code)
	}
}

func TestLoginRateLimited(t *testing.T) {
	w := newAuthWorld(t, nil)
	const attacker, owner = "192.0.2.66:5555", "198.51.100.7:6666"
	for i := 1; i < auth.DefaultLimits.IPFailures; i++ {
		if resp := w.login("responder", "guess", "", attacker); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	resp := w.login("responder", "guess", "", attacker)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "10" {
		t.Fatalf("locked out: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := w.login("responder", authPassword, "", attacker); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password from the locked address: %d", resp.StatusCode)
	}
	// Basic authentication shares the limit.
	hr := httptest.NewRequest(http.MethodGet, "/", nil)
	hr.SetBasicAuth("responder", authPassword)
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/incidents", remote: attacker,
		header: map[string]string{"Authorization": hr.Header.Get("Authorization")}}); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("basic auth from the locked address: %d", resp.StatusCode)
	}
	if resp := w.login("responder", authPassword, "", owner); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the user from another address: %d, want 303", resp.StatusCode)
	}
}

func TestLoginRedirectsOnlyLocally(t *testing.T) {
	w := newAuthWorld(t, nil)
	for next, want := range map[string]string{
		"/incidents/1?x=y":      "/incidents/1?x=y",
		"":                      "/",
		"//evil.example/":       "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"/login?next=//evil":    "/",
		"\t/evil":               "/",
	} {
		resp := w.login("viewer", authPassword, next, "192.0.2.1:1")
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("next=%q: %d → %q, want %q", next, resp.StatusCode, got, want)
		}
	}
	// Under a route prefix, next must stay under it.
	s := &Server{opts: Options{RoutePrefix: "/klaxon"}}
	for next, want := range map[string]string{"/klaxon/alerts": "/klaxon/alerts", "/other": "/klaxon/", "/klaxonx": "/klaxon/"} {
		if got := s.safeNext(next); got != want {
			t.Errorf("prefix /klaxon, next=%q: %q, want %q", next, got, want)
		}
	}
}

func TestLoginPageAndRedirects(t *testing.T) {
	w := newAuthWorld(t, nil)
	resp := w.do(req{method: http.MethodGet, path: "/login?next=/incidents"})
	page := body(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="username"`) || !strings.Contains(page, `name="password"`) ||
		!strings.Contains(page, `action="/login"`) || !strings.Contains(page, "/static/klaxon.css") {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	resp = w.do(req{method: http.MethodGet, path: "/api/v1/incidents"})
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("API without credentials: %d %s", resp.StatusCode, resp.Header)
	}
	if resp := w.login("viewer", "wrong password", "", "192.0.2.2:1"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(resp), "Wrong user name or password") {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	// From another site, a login is refused.
	form := url.Values{"username": {"viewer"}, "password": {authPassword}}
	if resp := w.do(req{method: http.MethodPost, path: "/login", body: form.Encode(), header: map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %d", resp.StatusCode)
	}
}

func TestUIRedirectUnderPrefix(t *testing.T) {
	w := newAuthWorld(t, func(o *Options) { o.RoutePrefix = "/klaxon" })
	// Any page of the UI (a route outside the API namespaces).
	var page string
	for _, rt := range walkRoutes(t, w.srv) {
		method, pattern, _ := strings.Cut(rt, " ")
		if method == http.MethodGet && strings.HasPrefix(pattern, "/klaxon/") && !ownNamespace(strings.TrimPrefix(pattern, "/klaxon")) && !strings.Contains(pattern, "static") && !strings.Contains(pattern, "{") {
			page = strings.TrimSuffix(pattern, "/*")
			break
		}
	}
	if page == "" {
		t.Fatal("no UI page registered: the UI pages are missing from the route tree")
	}
	resp := w.do(req{method: http.MethodGet, path: page + "?a=b"})
	want := "/klaxon/login?next=" + url.QueryEscape(page+"?a=b")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Errorf("GET %s: %d → %q, want %q", page, resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

func TestSessionCookieAndLogout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		access func(*Access)
		secure bool
	}{
		{"plain http", nil, false},
		{"https external URL", func(a *Access) { a.ExternalHTTPS = true }, true},
		{"forced", func(a *Access) { a.CookieSecure = "true" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newAuthWorld(t, func(o *Options) {
				if tc.access != nil {
					tc.access(&o.Access)
				}
			})
			resp := w.login("viewer", authPassword, "", "192.0.2.3:1")
			var c *http.Cookie
			for _, rc := range resp.Cookies() {
				if rc.Name == sessionCookie {
					c = rc
				}
			}
			if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" || c.MaxAge <= 0 {
				t.Fatalf("cookie: %+v", c)
			}
		})
	}
	w := newAuthWorld(t, nil)
	c, csrf := w.session("viewer")
	resp := w.do(req{method: http.MethodPost, path: "/logout", cookies: []*http.Cookie{c},
		header: map[string]string{csrfHeader: csrf, "Origin": "http://klaxon.test"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// The old cookie, replayed, is worthless: the session is gone on the
	// server, not only in the browser.
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/incidents", cookies: []*http.Cookie{c}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("cookie after logout: %d, want 401", resp.StatusCode)
	}
}

func TestProxyHeader(t *testing.T) {
	w := newAuthWorld(t, func(o *Options) {
		o.Access.ProxyHeader = "X-Forwarded-User"
		o.Access.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		o.Access.ProxyDefaultRole = auth.RoleViewer
	})
	get := func(remote, user string) *http.Response {
		return w.do(req{method: http.MethodGet, path: "/api/v1/auth/me", remote: remote, header: map[string]string{"X-Forwarded-User": user}})
	}
	resp := get("10.1.2.3:1", "responder")
	var m me
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil || m.Role != auth.RoleResponder || m.Method != auth.MethodProxy {
		t.Fatalf("local user through the proxy: %d %+v", resp.StatusCode, m)
	}
	if resp := get("10.1.2.3:1", "someone"); resp.StatusCode != http.StatusOK {
		t.Errorf("unknown user with a default role: %d", resp.StatusCode)
	}
	if resp := get("192.0.2.9:1", "admin"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("header from an untrusted address: %d, want 401", resp.StatusCode)
	}
	// The proxy's own bearer token (an ID token) does not get in the way.
	if resp := w.do(req{method: http.MethodGet, path: "/api/v1/auth/me", remote: "10.1.2.3:1",
		header: map[string]string{"X-Forwarded-User": "responder", "Authorization": "Bearer eyJhbGciOi.x.y"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("proxied with the proxy's bearer token: %d", resp.StatusCode)
	}
	// Proxied browsers follow the CSRF rules: the token comes in a cookie
	// set on a page view, and must be sent back.
	ack := "/api/v1/incidents/" + strconv.FormatInt(w.id, 10) + "/ack"
	hdr := map[string]string{"X-Forwarded-User": "responder", "Origin": "http://klaxon.test"}
	if resp := w.do(req{method: http.MethodPost, path: ack, remote: "10.1.2.3:1", header: hdr}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("proxied POST without a CSRF token: %d, want 403", resp.StatusCode)
	}
	var csrf *http.Cookie
	for _, c := range get("10.1.2.3:1", "responder").Cookies() {
		if c.Name == csrfCookie {
			csrf = c
		}
	}
	if csrf == nil || !csrf.HttpOnly {
		t.Fatalf("no CSRF cookie for a proxied browser: %+v", csrf)
	}
	hdr[csrfHeader] = csrf.Value
	if resp := w.do(req{method: http.MethodPost, path: ack, remote: "10.1.2.3:1", header: hdr, cookies: []*http.Cookie{csrf}}); resp.StatusCode != http.StatusOK {
		t.Errorf("proxied POST with the CSRF token: %d %s", resp.StatusCode, body(resp))
	}
	// The rate limit sees the client behind the proxy.
	hr := httptest.NewRequest(http.MethodGet, "/", nil)
	hr.RemoteAddr = "10.0.0.5:1"
	hr.Header.Set("X-Forwarded-For", "198.51.100.1, 10.0.0.4")
	if ip := w.srv.clientIP(hr); ip != "198.51.100.1" {
		t.Errorf("client behind proxies: %s", ip)
	}
	hr.RemoteAddr = "192.0.2.1:1"
	if ip := w.srv.clientIP(hr); ip != "192.0.2.1" {
		t.Errorf("X-Forwarded-For from an untrusted peer was believed: %s", ip)
	}
}
