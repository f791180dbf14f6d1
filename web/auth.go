package web

import (
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/auth"
)

// Access configures access control. Every request is authenticated by a
// session cookie, an API token (Authorization: Bearer), Basic
// authentication (a user's password, or a token as the password) or, if
// configured, a trusted reverse proxy's header, and then checked against
// the scope its route needs (routeRule).
type Access struct {
	// Auth stores users, sessions and tokens. Without it every route that
	// needs a principal answers 401.
	Auth *auth.Service
	// IngestOpen lets anyone post alerts (POST /api/v2/alerts,
	// /hooks/alertmanager), as Alertmanager does; otherwise they need the
	// ingest scope.
	IngestOpen bool
	// MetricsOpen lets anyone read /metrics; otherwise it needs read.
	MetricsOpen bool
	// CookieSecure is "auto" (Secure when the request came over TLS or
	// ExternalHTTPS), "true" or "false".
	CookieSecure string
	// ExternalHTTPS: --web.external-url is https, so browsers reach Klaxon
	// over TLS even when a proxy terminates it.
	ExternalHTTPS bool
	// TrustedProxies may name the client in X-Forwarded-For and send
	// ProxyHeader.
	TrustedProxies []netip.Prefix
	// ProxyHeader, when set, carries the name of a user authenticated by
	// a trusted proxy.
	ProxyHeader string
	// ProxyDefaultRole is the role of a proxied user who is not a local
	// user; empty refuses them.
	ProxyDefaultRole auth.Role
}

// Cookie names.
const (
	sessionCookie = "klaxon_session"
	// csrfCookie holds the anti-forgery token of proxy-authenticated
	// browsers, which have no session to keep it in (double submit).
	csrfCookie = "klaxon_csrf"
	csrfHeader = "X-CSRF-Token"
	csrfField  = "csrf_token"
)

// rule is what a route needs.
type rule int

const (
	// ruleUnknown: no rule; such a route is refused (and a test fails).
	ruleUnknown rule = iota
	// ruleOpen: anyone (health, readiness, static files, the login page).
	ruleOpen
	// ruleOwn: the handler checks its own signature or token (Slack,
	// PagerDuty, email ack links); no session is looked at.
	ruleOwn
	ruleIngest
	ruleMetrics
	// ruleAnyone: any authenticated principal (who am I, log out).
	ruleAnyone
	ruleRead
	ruleRespond
	ruleAdmin
)

func (r rule) scope() auth.Scope {
	switch r {
	case ruleIngest:
		return auth.ScopeIngest
	case ruleRead, ruleMetrics:
		return auth.ScopeRead
	case ruleRespond:
		return auth.ScopeRespond
	case ruleAdmin:
		return auth.ScopeAdmin
	}
	return ""
}

// routeRules names the rule of every route of Klaxon's own namespaces
// (/api, /hooks, /-/, /ack, /debug, /metrics), by method and chi route
// pattern; "*" matches any method. A route in those namespaces that is not
// listed is refused, and TestEveryRouteHasARule fails.
var routeRules = map[string]rule{
	"GET /-/healthy": ruleOpen, "HEAD /-/healthy": ruleOpen,
	"GET /-/ready": ruleOpen, "HEAD /-/ready": ruleOpen,
	"POST /-/reload": ruleAdmin, "PUT /-/reload": ruleAdmin,
	"* /metrics": ruleMetrics,

	"POST /api/v2/alerts":         ruleIngest,
	"POST /hooks/alertmanager":    ruleIngest,
	"GET /api/v2/alerts":          ruleRead,
	"GET /api/v2/alerts/groups":   ruleRead,
	"GET /api/v2/receivers":       ruleRead,
	"GET /api/v2/status":          ruleRead,
	"GET /api/v2/silences":        ruleRead,
	"POST /api/v2/silences":       ruleRespond,
	"GET /api/v2/silence/{id}":    ruleRead,
	"DELETE /api/v2/silence/{id}": ruleRespond,

	"POST /hooks/slack/interactions": ruleOwn,
	"POST /hooks/pagerduty":          ruleOwn,
	"GET /ack/{token}":               ruleOwn,
	"POST /ack/{token}":              ruleOwn,

	"GET /api/v1/rules":  ruleRead,
	"GET /api/v1/alerts": ruleRead,

	"GET /api/v1/incidents/":                 ruleRead,
	"GET /api/v1/incidents/{id}":             ruleRead,
	"GET /api/v1/incidents/{id}/timeline":    ruleRead,
	"GET /api/v1/incidents/{id}/postmortem":  ruleRead,
	"GET /api/v1/incidents/action-items":     ruleRead,
	"POST /api/v1/incidents/{id}/ack":        ruleRespond,
	"POST /api/v1/incidents/{id}/unack":      ruleRespond,
	"POST /api/v1/incidents/{id}/resolve":    ruleRespond,
	"POST /api/v1/incidents/{id}/notes":      ruleRespond,
	"PUT /api/v1/incidents/{id}/assignee":    ruleRespond,
	"PUT /api/v1/incidents/{id}/severity":    ruleRespond,
	"POST /api/v1/incidents/{id}/links":      ruleRespond,
	"POST /api/v1/incidents/{id}/postmortem": ruleRespond,
	"PUT /api/v1/incidents/{id}/postmortem":  ruleRespond,

	// On-call people, schedules and policies are administration;
	// overrides are what responders do at 3 a.m. when they swap a shift.
	"GET /api/v1/users/":                             ruleRead,
	"POST /api/v1/users/":                            ruleAdmin,
	"GET /api/v1/users/{name}":                       ruleRead,
	"PUT /api/v1/users/{name}":                       ruleAdmin,
	"DELETE /api/v1/users/{name}":                    ruleAdmin,
	"GET /api/v1/users/{name}/shifts":                ruleRead,
	"GET /api/v1/users/{name}/shifts.ics":            ruleRead,
	"GET /api/v1/schedules/":                         ruleRead,
	"POST /api/v1/schedules/":                        ruleAdmin,
	"GET /api/v1/schedules/{name}":                   ruleRead,
	"PUT /api/v1/schedules/{name}":                   ruleAdmin,
	"DELETE /api/v1/schedules/{name}":                ruleAdmin,
	"GET /api/v1/schedules/{name}/oncall":            ruleRead,
	"GET /api/v1/schedules/{name}/overrides":         ruleRead,
	"POST /api/v1/schedules/{name}/overrides":        ruleRespond,
	"DELETE /api/v1/schedules/{name}/overrides/{id}": ruleRespond,
	"GET /api/v1/escalation-policies/":               ruleRead,
	"POST /api/v1/escalation-policies/":              ruleAdmin,
	"GET /api/v1/escalation-policies/{name}":         ruleRead,
	"PUT /api/v1/escalation-policies/{name}":         ruleAdmin,
	"DELETE /api/v1/escalation-policies/{name}":      ruleAdmin,

	"GET /api/v1/auth/me":              ruleAnyone,
	"GET /api/v1/auth/tokens":          ruleAdmin,
	"POST /api/v1/auth/tokens":         ruleAdmin,
	"DELETE /api/v1/auth/tokens/{id}":  ruleAdmin,
	"GET /api/v1/auth/users":           ruleAdmin,
	"POST /api/v1/auth/users":          ruleAdmin,
	"PUT /api/v1/auth/users/{name}":    ruleAdmin,
	"DELETE /api/v1/auth/users/{name}": ruleAdmin,

	"GET /login":   ruleOpen,
	"POST /login":  ruleOpen,
	"POST /logout": ruleAnyone,
}

// ownNamespace reports whether a route pattern belongs to Klaxon's API,
// hooks and operational endpoints, where every route needs an explicit
// rule; the rest is the UI.
func ownNamespace(pattern string) bool {
	for _, p := range []string{"/api/", "/hooks/", "/-/", "/ack/", "/debug/", "/metrics", "/login", "/logout"} {
		if strings.HasPrefix(pattern, p) {
			return true
		}
	}
	return false
}

// routeRule is the rule of a route, by method and chi route pattern.
func routeRule(method, pattern string) rule {
	// chi reports a sub-router's root as /x/ when walking the tree and as
	// /x when routing a request to /x.
	for _, p := range []string{pattern, pattern + "/"} {
		if r, ok := routeRules[method+" "+p]; ok {
			return r
		}
		if r, ok := routeRules["* "+p]; ok {
			return r
		}
	}
	switch {
	case strings.HasPrefix(pattern, "/debug/"):
		// Go's profiler shows memory and may slow the server: admin.
		return ruleAdmin
	case ownNamespace(pattern):
		return ruleUnknown
	case strings.HasPrefix(pattern, "/static/"):
		return ruleOpen
	case method == http.MethodGet || method == http.MethodHead:
		// UI pages: reading.
		return ruleRead
	default:
		// A UI form that changes something: acting on incidents and
		// silences is what the UI does.
		return ruleRespond
	}
}

// accessControl is the middleware that authenticates each request and
// checks its route's rule before the handler runs. mux is the router
// whose routes it guards (patterns are relative to it, under any route
// prefix).
func (s *Server) accessControl(mux *chi.Mux) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pattern := mux.Find(chi.NewRouteContext(), r.Method, routePath(r))
			if pattern == "" {
				// Not found or method not allowed: chi answers.
				next.ServeHTTP(w, r)
				return
			}
			ru := routeRule(r.Method, pattern)
			a := &s.opts.Access
			switch {
			case ru == ruleUnknown:
				s.opts.Logger.Error("Route without an access rule refused", "method", r.Method, "route", pattern)
				writeError(w, http.StatusForbidden, "no access rule for this route")
				return
			case ru == ruleOpen, ru == ruleOwn, ru == ruleIngest && a.IngestOpen, ru == ruleMetrics && a.MetricsOpen:
				next.ServeHTTP(w, r)
				return
			}
			p, status, msg := s.authenticate(w, r)
			if status != 0 {
				s.deny(w, r, pattern, status, msg)
				return
			}
			if p == nil {
				s.deny(w, r, pattern, http.StatusUnauthorized, "authentication required: log in, or send an API token as Authorization: Bearer")
				return
			}
			if !safeMethod(r.Method) && (p.Method == auth.MethodSession || p.Method == auth.MethodProxy) {
				if msg := s.checkCSRF(r, p); msg != "" {
					writeError(w, http.StatusForbidden, msg)
					return
				}
			}
			if sc := ru.scope(); sc != "" && !p.Can(sc) {
				writeError(w, http.StatusForbidden, "forbidden: this needs the "+string(sc)+" scope")
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
		})
	}
}

// routePath is the path chi routes r by.
func routePath(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		return rctx.RoutePath
	}
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authenticate finds who sent r. A nil principal with status 0 means no
// credentials; credentials that were sent and are wrong are a status
// (401, or 429 when locked out), so a broken token never falls back to a
// cookie.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*auth.Principal, int, string) {
	a := &s.opts.Access
	if a.Auth == nil {
		return nil, 0, ""
	}
	ctx := r.Context()
	proxied := a.ProxyHeader != "" && r.Header.Get(a.ProxyHeader) != "" && s.fromTrustedProxy(r)
	h := r.Header.Get("Authorization")
	if proxied && !strings.Contains(h, auth.TokenPrefix) && !strings.HasPrefix(strings.ToLower(h), "basic ") {
		// The proxy may pass its own bearer token (an OIDC ID token)
		// along; the user it vouches for is the one that counts.
		h = ""
	}
	if h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		cred = strings.TrimSpace(cred)
		var (
			p   *auth.Principal
			err error
		)
		switch strings.ToLower(scheme) {
		case "bearer":
			p, err = a.Auth.TokenPrincipal(ctx, cred, auth.MethodToken)
		case "basic":
			user, pass, ok := r.BasicAuth()
			switch {
			case !ok:
				err = auth.ErrBadCredentials
			case strings.HasPrefix(pass, auth.TokenPrefix):
				p, err = a.Auth.TokenPrincipal(ctx, pass, auth.MethodBasic)
			default:
				p, err = a.Auth.PasswordPrincipal(ctx, user, pass, s.clientIP(r))
			}
		default:
			return nil, http.StatusUnauthorized, "Authorization: want Bearer or Basic"
		}
		if err != nil {
			status, msg := credentialStatus(w, err)
			return nil, status, msg
		}
		return p, 0, ""
	}
	if proxied {
		return s.proxyPrincipal(w, r, r.Header.Get(a.ProxyHeader))
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		p, err := a.Auth.SessionPrincipal(ctx, c.Value)
		if errors.Is(err, auth.ErrBadCredentials) {
			// Ended or unknown: forget the cookie, carry on unauthenticated.
			s.clearSessionCookie(w, r)
			return nil, 0, ""
		}
		if err != nil {
			return nil, http.StatusServiceUnavailable, "cannot check the session: " + err.Error()
		}
		return p, 0, ""
	}
	return nil, 0, ""
}

// credentialStatus maps an authentication error to its answer.
func credentialStatus(w http.ResponseWriter, err error) (int, string) {
	var locked *auth.LockedError
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(locked.RetryAfter.Seconds()))))
		return http.StatusTooManyRequests, locked.Error()
	case errors.Is(err, auth.ErrBadCredentials):
		return http.StatusUnauthorized, "invalid credentials"
	default:
		return http.StatusServiceUnavailable, "cannot check credentials: " + err.Error()
	}
}

// proxyPrincipal is the user a trusted proxy vouched for: a local user
// with their role, or anyone else with ProxyDefaultRole. The browser gets
// a double-submit CSRF cookie in place of a session.
func (s *Server) proxyPrincipal(w http.ResponseWriter, r *http.Request, name string) (*auth.Principal, int, string) {
	a := &s.opts.Access
	p, err := a.Auth.UserPrincipal(r.Context(), name, auth.MethodProxy)
	switch {
	case errors.Is(err, auth.ErrNotFound) && a.ProxyDefaultRole != "":
		p = &auth.Principal{Name: name, Role: a.ProxyDefaultRole, Scopes: auth.RoleScopes(a.ProxyDefaultRole), Method: auth.MethodProxy}
	case errors.Is(err, auth.ErrNotFound):
		return nil, http.StatusForbidden, "user " + strconv.Quote(name) + " from the proxy is not a Klaxon user"
	case err != nil:
		return nil, http.StatusServiceUnavailable, "cannot look up the user: " + err.Error()
	}
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		p.CSRFToken = c.Value
	} else if safeMethod(r.Method) {
		p.CSRFToken = randomToken()
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: p.CSRFToken, Path: s.cookiePath(),
			HttpOnly: true, Secure: s.secureCookie(r), SameSite: http.SameSiteLaxMode})
	}
	return p, 0, ""
}

// clientIP is the address of the client: the peer, or, when the peer is a
// trusted proxy, the last address in X-Forwarded-For that is not one.
func (s *Server) clientIP(r *http.Request) string {
	peer := remoteAddr(r)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
	}
	return peer.String()
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.Access.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	a := remoteAddr(r)
	return a.IsValid() && s.trusted(a)
}

// checkCSRF guards a state-changing request authenticated by the browser
// (cookie or proxy): it must come from a page of this site (Origin, or
// Referer, naming this host) and carry the session's token (header
// X-CSRF-Token or form field csrf_token). It returns what is wrong, or "".
func (s *Server) checkCSRF(r *http.Request, p *auth.Principal) string {
	if !s.sameOrigin(r) {
		return "forbidden: cross-site request (Origin or Referer must be this site)"
	}
	token := r.Header.Get(csrfHeader)
	if token == "" {
		if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
			r.Body = http.MaxBytesReader(nil, r.Body, s.opts.MaxBodyBytes)
			token = r.PostFormValue(csrfField)
		}
	}
	if !auth.ValidCSRF(p, token) {
		return "forbidden: missing or wrong CSRF token (send the X-CSRF-Token header or the csrf_token form field)"
	}
	return ""
}

// sameOrigin reports whether the request's Origin (or, without one, its
// Referer) is this server as the browser reached it.
func (s *Server) sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return false
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if s.fromTrustedProxy(r) {
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && strings.EqualFold(u.Host, fh) {
			return true
		}
	}
	return false
}

// deny answers an unauthenticated or refused request: browsers asking for
// a UI page go to the login page, everything else gets JSON.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, pattern string, status int, msg string) {
	if status == http.StatusUnauthorized && safeMethod(r.Method) && !ownNamespace(pattern) {
		http.Redirect(w, r, s.basePath()+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="klaxon"`)
	}
	writeError(w, status, msg)
}

// basePath is the route prefix without its trailing slash.
func (s *Server) basePath() string { return strings.TrimRight(s.opts.RoutePrefix, "/") }

func (s *Server) cookiePath() string { return s.basePath() + "/" }

func (s *Server) secureCookie(r *http.Request) bool {
	switch s.opts.Access.CookieSecure {
	case "true":
		return true
	case "false":
		return false
	}
	return r.TLS != nil || s.opts.Access.ExternalHTTPS
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: s.cookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookie(r), SameSite: http.SameSiteLaxMode})
}

// actorName is who an action is recorded as. A user (session, proxy,
// Basic with a password) acts as themselves whatever the body says; a
// token acts for the person named in the body (the CLI sends who runs
// it), else as the token.
// actorVia is the channel an edit came through: "ui" for a browser
// session, whose pages call the same JSON API, and "api" otherwise.
func actorVia(r *http.Request) string {
	if p := auth.FromContext(r.Context()); p != nil && p.Method == auth.MethodSession {
		return "ui"
	}
	return "api"
}

func actorName(r *http.Request, by string) string {
	p := auth.FromContext(r.Context())
	switch {
	case p == nil:
		return by
	case p.Role != "":
		return p.Name
	case by != "":
		return by
	default:
		return "token:" + p.Name
	}
}
