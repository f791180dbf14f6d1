package web

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/auth"
)

// loginTemplate is the login page. It stands alone (the UI's layout needs a
// principal) and takes its look from the UI's stylesheet.
var loginTemplate = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Klaxon</title>
<link rel="stylesheet" href="{{.Prefix}}/static/klaxon.css">
</head>
<body class="login">
<main class="login-box">
<h1>Klaxon</h1>
{{with .Error}}<p class="error" role="alert">{{.}}</p>{{end}}
<form method="post" action="{{.Prefix}}/login">
<input type="hidden" name="next" value="{{.Next}}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" value="{{.Username}}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>
</main>
</body>
</html>
`))

type loginPage struct {
	Prefix, Next, Username, Error string
}

func (s *Server) authRoutes(r chi.Router) {
	r.Get("/login", s.loginForm)
	r.Post("/login", s.login)
	r.Post("/logout", s.logout)
	r.Route("/api/v1/auth", func(r chi.Router) {
		r.Get("/me", s.whoAmI)
		r.Get("/tokens", s.listTokens)
		r.Post("/tokens", s.createToken)
		r.Delete("/tokens/{id}", s.revokeToken)
		r.Get("/users", s.listAuthUsers)
		r.Post("/users", s.createAuthUser)
		r.Put("/users/{name}", s.updateAuthUser)
		r.Delete("/users/{name}", s.deleteAuthUser)
	})
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, page loginPage) {
	page.Prefix = s.basePath()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The login page must not be framed (clickjacking of the form).
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = loginTemplate.Execute(w, page)
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, http.StatusOK, loginPage{Next: s.safeNext(r.URL.Query().Get("next"))})
}

// login checks the form's user name and password, opens a session and
// goes to next (a local path only, so the form cannot be used to send
// people elsewhere).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	name, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	page := loginPage{Next: s.safeNext(r.PostForm.Get("next")), Username: name}
	// A login posted from another site would log the victim into the
	// attacker's account.
	if !s.sameOrigin(r) {
		page.Error = "This login form was posted from another site."
		s.renderLogin(w, http.StatusForbidden, page)
		return
	}
	if s.opts.Access.Auth == nil {
		page.Error = "Logging in is not available."
		s.renderLogin(w, http.StatusServiceUnavailable, page)
		return
	}
	se, err := s.opts.Access.Auth.Login(r.Context(), name, password, s.clientIP(r))
	if err != nil {
		status, msg := credentialStatus(w, err)
		switch status {
		case http.StatusUnauthorized:
			page.Error = "Wrong user name or password."
		case http.StatusTooManyRequests:
			page.Error = "Too many failed logins. " + strings.ToUpper(msg[:1]) + msg[1:] + "."
		default:
			page.Error = "Logging in failed; try again."
			s.opts.Logger.Error("Login failed", "err", err)
		}
		s.renderLogin(w, status, page)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: se.ID, Path: s.cookiePath(),
		MaxAge: int(s.opts.Access.Auth.SessionMaxAge().Seconds()), HttpOnly: true, Secure: s.secureCookie(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, page.Next, http.StatusSeeOther)
}

// safeNext is next if it is a path on this server under the route prefix,
// else the UI's start page.
func (s *Server) safeNext(next string) string {
	home := s.basePath() + "/"
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	if p := s.basePath(); p != "" && u.Path != p && !strings.HasPrefix(u.Path, p+"/") {
		return home
	}
	if strings.HasPrefix(u.Path, s.basePath()+"/login") {
		return home
	}
	return u.RequestURI()
}

// logout ends the session on the server, so a copied cookie is worthless
// afterwards, and clears it in the browser.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && s.opts.Access.Auth != nil {
		if err := s.opts.Access.Auth.Logout(r.Context(), c.Value); err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	s.clearSessionCookie(w, r)
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, s.basePath()+"/login", http.StatusSeeOther)
}

// me is GET /api/v1/auth/me.
type me struct {
	Name      string       `json:"name"`
	Role      auth.Role    `json:"role,omitempty"`
	Scopes    []auth.Scope `json:"scopes"`
	Method    auth.Method  `json:"method"`
	CSRFToken string       `json:"csrfToken,omitempty"`
}

func (s *Server) whoAmI(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	writeJSON(w, http.StatusOK, me{Name: p.Name, Role: p.Role, Scopes: p.Scopes, Method: p.Method, CSRFToken: p.CSRFToken})
}

func authError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, auth.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, auth.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, auth.ErrExists), errors.Is(err, auth.ErrLastAdmin):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, statusOf(err), err.Error())
	}
}

func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.opts.Access.Auth.Tokens(r.Context())
	if err != nil {
		authError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// newToken is the answer to POST /api/v1/auth/tokens: the token and, this
// once, its secret.
type newToken struct {
	auth.Token
	Secret string `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name      string       `json:"name"`
		Scopes    []auth.Scope `json:"scopes"`
		ExpiresIn string       `json:"expiresIn"`
		ExpiresAt time.Time    `json:"expiresAt"`
	}
	if !decodeStrict(w, r, &body) {
		return
	}
	exp := body.ExpiresAt
	if body.ExpiresIn != "" {
		d, err := model.ParseDuration(body.ExpiresIn)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("expiresIn: want a duration such as 90d or 12h, got %q", body.ExpiresIn))
			return
		}
		exp = s.opts.Access.Auth.Now().Add(time.Duration(d))
	}
	tok, secret, err := s.opts.Access.Auth.CreateToken(r.Context(), body.Name, body.Scopes, auth.FromContext(r.Context()).Name, exp)
	if err != nil {
		authError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, newToken{Token: *tok, Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	raw := chi.URLParam(r, "id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("token id: want a positive number, got %q", raw))
		return
	}
	if err := s.opts.Access.Auth.RevokeToken(r.Context(), id); err != nil {
		authError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listAuthUsers(w http.ResponseWriter, r *http.Request) {
	list, err := s.opts.Access.Auth.Users(r.Context())
	if err != nil {
		authError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

type authUserBody struct {
	Name     string    `json:"name"`
	Role     auth.Role `json:"role"`
	Password string    `json:"password"`
}

func (s *Server) createAuthUser(w http.ResponseWriter, r *http.Request) {
	var body authUserBody
	if !decodeStrict(w, r, &body) {
		return
	}
	u, err := s.opts.Access.Auth.AddUser(r.Context(), body.Name, body.Role, body.Password)
	if err != nil {
		authError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// updateAuthUser changes a user's role, password, or both.
func (s *Server) updateAuthUser(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	var body authUserBody
	if !decodeStrict(w, r, &body) {
		return
	}
	if body.Name != "" && body.Name != name {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("name: %q differs from the path's %q", body.Name, name))
		return
	}
	if body.Role == "" && body.Password == "" {
		writeError(w, http.StatusBadRequest, "body: want role, password or both")
		return
	}
	ctx := r.Context()
	if _, err := s.opts.Access.Auth.User(ctx, name); err != nil {
		authError(w, err)
		return
	}
	if body.Role != "" {
		if err := s.opts.Access.Auth.SetRole(ctx, name, body.Role); err != nil {
			authError(w, err)
			return
		}
	}
	if body.Password != "" {
		if err := s.opts.Access.Auth.SetPassword(ctx, name, body.Password); err != nil {
			authError(w, err)
			return
		}
	}
	u, err := s.opts.Access.Auth.User(ctx, name)
	if err != nil {
		authError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) deleteAuthUser(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.Access.Auth.RemoveUser(r.Context(), chi.URLParam(r, "name")); err != nil {
		authError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// randomToken is a fresh 256-bit URL-safe random string.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
