// Package auth holds Klaxon's access control: local users with hashed
// passwords and roles, browser sessions, API tokens with scopes, and the
// principal a request acts as. The HTTP side (middleware, login page, CSRF
// checks) lives in web/; this package has no HTTP handlers.
package auth

import (
	"context"
	"slices"
)

// Role is what a local user may do. Roles grow: a responder can do all a
// viewer can, an admin all a responder can.
type Role string

// The roles, weakest first.
const (
	RoleViewer    Role = "viewer"
	RoleResponder Role = "responder"
	RoleAdmin     Role = "admin"
)

// Scope is one kind of access an API token (or a role) grants.
type Scope string

// The scopes. ingest posts alerts; read sees everything but secrets;
// respond acts on incidents and silences; admin manages users, tokens,
// on-call data and the configuration.
const (
	ScopeIngest  Scope = "ingest"
	ScopeRead    Scope = "read"
	ScopeRespond Scope = "respond"
	ScopeAdmin   Scope = "admin"
)

// AllScopes lists every scope in order.
var AllScopes = []Scope{ScopeIngest, ScopeRead, ScopeRespond, ScopeAdmin}

// RoleScopes is what a user with the role may do.
func RoleScopes(r Role) []Scope {
	switch r {
	case RoleViewer:
		return []Scope{ScopeRead}
	case RoleResponder:
		return []Scope{ScopeRead, ScopeRespond}
	case RoleAdmin:
		return slices.Clone(AllScopes)
	}
	return nil
}

// Method says how a principal proved who it is.
type Method string

// The ways in.
const (
	MethodSession Method = "session" // browser cookie
	MethodToken   Method = "token"   // Authorization: Bearer
	MethodBasic   Method = "basic"   // Authorization: Basic (ingest)
	MethodProxy   Method = "proxy"   // trusted reverse-proxy header
	MethodNone    Method = "none"    // unauthenticated, where allowed
)

// Principal is who a request acts as.
type Principal struct {
	// Name is the user name, or the token's name for tokens.
	Name string
	// Role is set for users (session, proxy); empty for tokens.
	Role Role
	// Scopes are the effective scopes.
	Scopes []Scope
	Method Method
	// CSRFToken is the session's anti-forgery token; only for
	// MethodSession. Pages put it in a <meta name="csrf-token"> tag and in
	// forms as the field "csrf_token"; scripts send it as X-CSRF-Token.
	CSRFToken string
}

// Can reports whether the principal holds scope s. admin implies every
// scope and respond implies read.
func (p *Principal) Can(s Scope) bool {
	if p == nil {
		return false
	}
	for _, have := range p.Scopes {
		if have == s || have == ScopeAdmin || (have == ScopeRespond && s == ScopeRead) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
