package auth

// ValidCSRF reports whether token is p's session's anti-forgery token,
// comparing in constant time. Principals without a session have none, and
// no token is valid for them.
func ValidCSRF(p *Principal, token string) bool {
	if p == nil || p.CSRFToken == "" || token == "" {
		return false
	}
	return constantTimeEqual(p.CSRFToken, token)
}
