package notifiers_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/notifiers"
)

func TestRedactError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"url in text", errors.New(`rejected by https://hooks.example.com/services/T0/B0/s3cret: 403`), "rejected by <redacted>: 403"},
		{"credentials", fmt.Errorf("wrapped: %w", errors.New(`Post "http://alice:s3cret@host/x": EOF`)), `wrapped: Post "<redacted>": EOF`},
		{"url.Error without scheme", &url.Error{Op: "Post", URL: "host/s3cret", Err: errors.New("EOF")}, `Post "<redacted>": EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notifiers.RedactError(tt.err); got != tt.want {
				t.Errorf("RedactError() = %q, want %q", got, tt.want)
			}
		})
	}
	long := notifiers.RedactError(errors.New(strings.Repeat("x", 5000)))
	if len(long) > 1100 || !strings.HasSuffix(long, "…") {
		t.Errorf("long error not truncated: %d bytes", len(long))
	}
}

func TestWithRetryAfter(t *testing.T) {
	base := errors.New("rate limited")
	err := fmt.Errorf("send: %w", notifiers.WithRetryAfter(base, 7*time.Second))
	var ra notifiers.RetryAfterError
	if !errors.As(err, &ra) || ra.RetryAfter() != 7*time.Second || !errors.Is(err, base) {
		t.Errorf("WithRetryAfter lost the delay or the cause: %v", err)
	}
	if notifiers.WithRetryAfter(nil, time.Second) != nil {
		t.Error("WithRetryAfter(nil) != nil")
	}
}
