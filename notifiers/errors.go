package notifiers

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// RetryAfterError is implemented by errors that carry how long the remote
// side asked to be left alone (an HTTP Retry-After header). The outbox waits
// at least that long before the next attempt.
type RetryAfterError interface {
	RetryAfter() time.Duration
}

// WithRetryAfter wraps err so that the outbox waits at least d before the
// next attempt. It returns nil if err is nil.
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string             { return e.err.Error() }
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// retryAfter returns the wait err asks for, or 0.
func retryAfter(err error) time.Duration {
	var ra RetryAfterError
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0)
	}
	return 0
}

// urlPattern matches absolute URLs. Every URL is removed from error texts,
// not only passwords in them: a Slack or chat webhook URL is a credential in
// its own right. Trailing punctuation is left to the sentence around it.
var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]*[^\s"'<>.,:;)\]]`)

// maxErrorLen bounds last_error; a remote error page can be large.
const maxErrorLen = 1024

// RedactError returns err's text without URLs, short enough for a log line
// or the outbox's last_error. It returns "" for a nil error.
func RedactError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	// url.Error quotes the URL it failed on, which may have no scheme when
	// a templated URL rendered badly.
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		s = strings.ReplaceAll(s, ue.URL, "<redacted>")
	}
	s = urlPattern.ReplaceAllString(s, "<redacted>")
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "") + "…"
	}
	return s
}

// redactedError keeps the chain of the error it redacts, so that errors.Is
// and errors.As still work, but prints without secrets.
type redactedError struct {
	err  error
	text string
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

func redact(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, text: RedactError(err)}
}
