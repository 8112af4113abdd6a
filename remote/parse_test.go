package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests for the parsers of hostile input (see fuzz_test.go).

func TestParseRetryAfterHuge(t *testing.T) {
	now := time.Now()
	for v, want := range map[string]time.Duration{
		"5":                     5 * time.Second,
		"59":                    59 * time.Second,
		"60":                    maxRetryAfter,
		"86400":                 maxRetryAfter,
		"18446744073":           maxRetryAfter, // ×1e9 wraps to a negative Duration
		"9223372036854775807":   maxRetryAfter, // ×1e9 wraps to -1s
		"99999999999999999999":  maxRetryAfter, // past int64
		"-99999999999999999999": 0,
		"-1":                    0,
		"soon":                  0,
	} {
		assert.Equal(t, want, parseRetryAfter(v, now), "Retry-After: %s", v)
	}
}

func TestReadErrorCleansFields(t *testing.T) {
	long := strings.Repeat("long ", 10000)
	body := `{"error":"a\u0000b\nc","exception":"` + long + `","error_description":"\u001b[31mred\u202e"}`
	e := readError("upload", errorResponse(400, []byte(body), ""))
	assert.Equal(t, "ab c", e.Code)
	assert.Equal(t, "[31mred", e.Description)
	assert.LessOrEqual(t, len(e.Exception), maxErrorBodyExcerpt+len("…"))
	assert.True(t, printable(e.Error()))

	// The service's own codes come through unchanged.
	e = readError("upload", errorResponse(413, []byte(`{"error":"file exceeding maximum limit","error_description":"the file size exceeds the maximum limit."}`), ""))
	assert.True(t, IsTooLarge(e))
	assert.Equal(t, CodeTooLarge, e.Code)
	assert.Equal(t, "the file size exceeds the maximum limit.", e.Description)
}

func TestParseMessageURLErrorsHideTheSecret(t *testing.T) {
	for _, u := range []string{
		"%zz/chatfiles/x?share-secret=S3cr3tValue",
		"https://h/chatfiles/\x7f?share-secret=S3cr3tValue",
		"https://h/nothing?share-secret=S3cr3tValue",
		"https://h/chatfiles/nope?share-secret=S3cr3tValue#S3cr3tValue",
	} {
		_, _, err := ParseMessageURL(u)
		if assert.Error(t, err, u) {
			assert.NotContains(t, err.Error(), "S3cr3tValue", u)
		}
	}
}

func TestEndpointRefusesEmptyQueryOrFragment(t *testing.T) {
	for _, base := range []string{"https://h?", "https://h#", "https://h/?", "https://h/#x", "https://h?a=b"} {
		err := Endpoint{BaseURL: base, AppID: "a"}.Validate()
		assert.Error(t, err, base)
	}
	assert.NoError(t, Endpoint{BaseURL: "https://h/", AppID: "a"}.Validate())
	assert.NoError(t, Endpoint{BaseURL: "http://127.0.0.1:8080/prefix", Org: "o", App: "a"}.Validate())
}

func TestParseMessageURLErrorsAreShort(t *testing.T) {
	for _, u := range []string{
		"https://h/" + strings.Repeat("\xa5", 100000),
		"https://h/chatfiles/" + strings.Repeat("a", 100000),
	} {
		_, _, err := ParseMessageURL(u)
		if assert.Error(t, err) {
			assert.Less(t, len(err.Error()), 1000)
		}
	}
}

// transportTimeout is like net/http's "timeout awaiting response headers"
// and net's dial timeout: a timeout that also matches
// context.DeadlineExceeded with errors.Is.
type transportTimeout struct{}

func (transportTimeout) Error() string        { return "net/http: timeout awaiting response headers" }
func (transportTimeout) Timeout() bool        { return true }
func (transportTimeout) Is(target error) bool { return target == context.DeadlineExceeded }

func TestTransportTimeoutsAreRetryable(t *testing.T) {
	hdr := fmt.Errorf("remote: download: %w", &url.Error{Op: "Get", URL: "http://h", Err: transportTimeout{}})
	assert.True(t, IsRetryable(hdr), "no response headers in time")

	_, err := (&net.Dialer{Deadline: time.Now().Add(-time.Second)}).Dial("tcp", "127.0.0.1:1")
	require.Error(t, err)
	assert.True(t, IsRetryable(err), "dial timeout %v", err)

	// The caller's own deadline is not retried.
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	assert.False(t, IsRetryable(fmt.Errorf("remote: x: %w", &url.Error{Op: "Get", URL: "http://h", Err: ctx.Err()})))
	assert.False(t, IsRetryable(errors.Join(io.EOF, context.DeadlineExceeded)))
	assert.False(t, IsRetryable(context.Canceled))
}
