package config

import (
	"fmt"
	"net/netip"
	"net/textproto"
	"time"

	"github.com/prometheus/common/model"
)

// Auth is the top-level key auth: who may reach what. Its zero value,
// completed by DefaultAuth, is the documented default: users log in,
// tokens are needed for the API, and alert ingestion stays open so that a
// Prometheus pointed at Klaxon works as it did with Alertmanager.
type Auth struct {
	// Ingest is "open" (default: POST /api/v2/alerts and
	// /hooks/alertmanager need no credentials, as with Alertmanager) or
	// "token" (they need a token or user with the ingest scope, by
	// Authorization: Bearer or Basic).
	Ingest string `yaml:"ingest"`
	// Metrics is "open" (default) or "token": /metrics needs the read
	// scope.
	Metrics string `yaml:"metrics"`
	// SessionIdleTimeout ends a browser session unused this long.
	SessionIdleTimeout model.Duration `yaml:"session_idle_timeout"`
	// SessionMaxAge ends every browser session this long after its login.
	SessionMaxAge model.Duration `yaml:"session_max_age"`
	// CookieSecure is "auto" (default: Secure when the request came over
	// TLS or --web.external-url is https), "true" or "false".
	CookieSecure string `yaml:"cookie_secure"`
	// TrustedProxies are the addresses (CIDRs) of reverse proxies whose
	// X-Forwarded-For names the client (for login rate limits) and which
	// may send ProxyHeader.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ProxyHeader, when set, authenticates requests from TrustedProxies
	// by the user name in this header (e.g. X-Forwarded-User from
	// oauth2-proxy). Off by default.
	ProxyHeader string `yaml:"proxy_header"`
	// ProxyDefaultRole is the role of a proxy-authenticated user who is
	// not a local user; "" refuses such users. A local user keeps their
	// own role.
	ProxyDefaultRole string `yaml:"proxy_default_role"`

	// Proxies is TrustedProxies parsed.
	Proxies []netip.Prefix `yaml:"-"`
}

// DefaultAuth holds the defaults of the auth key.
var DefaultAuth = Auth{
	Ingest:             "open",
	Metrics:            "open",
	SessionIdleTimeout: model.Duration(12 * time.Hour),
	SessionMaxAge:      model.Duration(7 * 24 * time.Hour),
	CookieSecure:       "auto",
}

// applyAuth validates the auth key and fills in defaults.
func (c *Config) applyAuth(a *Auth) error {
	c.Auth = DefaultAuth
	if a == nil {
		return nil
	}
	out := *a
	for _, f := range []struct {
		name     string
		v        *string
		def      string
		allowed  []string
		wantText string
	}{
		{"ingest", &out.Ingest, DefaultAuth.Ingest, []string{"open", "token"}, "open or token"},
		{"metrics", &out.Metrics, DefaultAuth.Metrics, []string{"open", "token"}, "open or token"},
		{"cookie_secure", &out.CookieSecure, DefaultAuth.CookieSecure, []string{"auto", "true", "false"}, "auto, true or false"},
		{"proxy_default_role", &out.ProxyDefaultRole, "", []string{"", "viewer", "responder", "admin"}, "viewer, responder or admin"},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
		ok := false
		for _, a := range f.allowed {
			ok = ok || *f.v == a
		}
		if !ok {
			return fmt.Errorf("auth.%s: %q: want %s", f.name, *f.v, f.wantText)
		}
	}
	if out.SessionIdleTimeout == 0 {
		out.SessionIdleTimeout = DefaultAuth.SessionIdleTimeout
	}
	if out.SessionMaxAge == 0 {
		out.SessionMaxAge = DefaultAuth.SessionMaxAge
	}
	if out.SessionIdleTimeout < 0 || out.SessionMaxAge < 0 {
		return fmt.Errorf("auth: session_idle_timeout and session_max_age must be positive")
	}
	for i, s := range out.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return fmt.Errorf("auth.trusted_proxies[%d]: %q: want an address or CIDR such as 10.0.0.0/8", i, s)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		out.Proxies = append(out.Proxies, p.Masked())
	}
	if out.ProxyHeader != "" {
		out.ProxyHeader = textproto.CanonicalMIMEHeaderKey(out.ProxyHeader)
		if len(out.Proxies) == 0 {
			return fmt.Errorf("auth.proxy_header: %q needs auth.trusted_proxies, the addresses allowed to send it", out.ProxyHeader)
		}
	}
	c.Auth = out
	return nil
}
