package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error is a non-2xx answer of the service. Code and Description are the
// server's `error` and `error_description`; Body holds the start of a body
// that was not a JSON error (an HTML page from a proxy, say).
type Error struct {
	Op     string // "upload", "download <uuid>", ...
	Status int    // HTTP status code
	// The server's fields, cut to 200 bytes with control characters
	// dropped and white space collapsed.
	Code        string // the `error` field, e.g. "entity_not_found"
	Description string // the `error_description` field
	Exception   string // the `exception` field
	Body        string // short excerpt of a non-JSON body
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
}

// Error renders the status and the server's explanation. It never contains
// a token or a share-secret.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "remote: %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if e.Code == "" && e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	return b.String()
}

// Error codes of the service, as the `error` field carries them.
const (
	CodeIllegalArgument = "illegal_argument"
	CodeBadAccessToken  = "auth_bad_access_token"
	CodeUnauthorized    = "unauthorized"
	CodeNotFound        = "entity_not_found"
	CodeExpired         = "file_expired"
	CodeAppNotFound     = "organization_application_not_found"
	CodeTooLarge        = "file exceeding maximum limit"
	CodeReachLimit      = "reach_limit"
	CodeResourceLimited = "resource_limited"
	// Messages: 400 message_send_error (a refused message: no sender, too
	// many recipients, too large) or invalid_request_body; 403
	// message_send_error is the service's send rate limit.
	CodeMessageSendError   = "message_send_error"
	CodeInvalidRequestBody = "invalid_request_body"
)

const (
	maxErrorBody        = 64 << 10    // bytes of an error body read
	maxErrorBodyExcerpt = 200         // bytes of a non-JSON error body kept
	maxRetryAfter       = time.Minute // longest Retry-After honoured
)

// ErrIdleTimeout is returned (wrapped) when no byte of a body moved for
// Options.IdleBodyTimeout. It is a timeout, so IsRetryable reports true.
var ErrIdleTimeout error = idleTimeoutError{}

type idleTimeoutError struct{}

func (idleTimeoutError) Error() string   { return "remote: no data for the idle body timeout" }
func (idleTimeoutError) Timeout() bool   { return true }
func (idleTimeoutError) Temporary() bool { return true }

// ErrTooManyRedirects is returned (wrapped) when a download is redirected
// more than 10 times.
var ErrTooManyRedirects = errors.New("remote: stopped after 10 redirects")

// ErrMalformedAnswer is returned (wrapped) when a 2xx answer cannot be
// understood. It is permanent: retrying would not change the server.
var ErrMalformedAnswer = errors.New("remote: malformed answer")

// readError turns a non-2xx response into an *Error and closes its body.
// At most 64 KiB of the body are read.
func readError(op string, resp *http.Response) *Error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Op: op, Status: resp.StatusCode}
	var j struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
		Exception   string          `json:"exception"`
	}
	if json.Unmarshal(data, &j) == nil && len(j.Error) > 0 {
		var code string
		if json.Unmarshal(j.Error, &code) != nil {
			code = string(j.Error) // not a string: keep it raw
		}
		// The fields end up in messages, logs and xattrs: keep them short
		// and free of control characters (a hostile server could send
		// newlines or terminal escapes).
		e.Code, e.Description, e.Exception = excerpt([]byte(code)), excerpt([]byte(j.Description)), excerpt([]byte(j.Exception))
	} else {
		e.Body = excerpt(data)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// excerpt keeps the start of a body, at most maxErrorBodyExcerpt bytes
// then "…", with whitespace runs collapsed to one space, and other
// unprintable characters dropped (invalid UTF-8 becomes U+FFFD).
func excerpt(data []byte) string {
	var b strings.Builder
	space := false
	for _, r := range string(data) {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case !unicode.IsPrint(r):
			continue
		}
		sep := space && b.Len() > 0
		n := utf8.RuneLen(r)
		if sep {
			n++
		}
		if b.Len()+n > maxErrorBodyExcerpt {
			b.WriteString("…")
			break
		}
		if sep {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// unreadable, at most maxRetryAfter. A number of seconds too large for a
// Duration (or an int64) is capped too, rather than overflowing to 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	// On ErrRange, ParseInt gives the largest or smallest int64.
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if s >= int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func hasStatus(err error, status int) bool {
	e, ok := asError(err)
	return ok && e.Status == status
}

// IsNotExist reports whether the file does not exist (any more): a 404 that
// is not organization_application_not_found, including file_expired.
func IsNotExist(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusNotFound && e.Code != CodeAppNotFound
}

// IsExpired reports whether the file existed but has expired (404 file_expired).
func IsExpired(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusNotFound && e.Code == CodeExpired
}

// IsAppNotFound reports whether the org/app or app id does not exist on the
// server (404 organization_application_not_found): a configuration error.
func IsAppNotFound(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusNotFound && e.Code == CodeAppNotFound
}

// IsUnauthorized reports whether the token was refused (401).
func IsUnauthorized(err error) bool { return hasStatus(err, http.StatusUnauthorized) }

// IsForbidden reports whether access was denied (403), e.g. a restricted
// file asked for without its share-secret or with a wrong one.
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden) }

// IsTooLarge reports whether the file exceeds the app's size limit (413).
func IsTooLarge(err error) bool { return hasStatus(err, http.StatusRequestEntityTooLarge) }

// IsInvalid reports whether the server refused the request as malformed (400).
func IsInvalid(err error) bool { return hasStatus(err, http.StatusBadRequest) }

// IsQuotaExceeded reports a 429 resource_limited: the app's quota is used
// up. It is not retryable.
func IsQuotaExceeded(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusTooManyRequests && e.Code == CodeResourceLimited
}

// IsRetryable reports whether trying again may succeed: 408, 5xx, 429
// reach_limit, 403 message_send_error (message send reach limit), network errors (refused or reset connections, EOF before or
// inside an answer, timeouts). A canceled or expired context is not
// retryable, nor is any other answer of the server.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if e, ok := asError(err); ok {
		switch {
		case e.Status == http.StatusRequestTimeout, e.Status >= 500:
			return true
		case e.Status == http.StatusTooManyRequests:
			return e.Code != CodeResourceLimited
		case e.Status == http.StatusForbidden:
			return e.Code == CodeMessageSendError // message send reach limit
		}
		return false
	}
	// Not errors.Is(err, context.DeadlineExceeded): the transport's and
	// net's own timeouts (no response headers in time, dial timeout) match
	// it too, and they are network failures worth a retry.
	if errors.Is(err, context.Canceled) || holdsDeadlineExceeded(err) ||
		errors.Is(err, ErrMalformedAnswer) || errors.Is(err, ErrTooManyRedirects) {
		return false
	}
	if _, ok := errors.AsType[*localError](err); ok {
		return false
	}
	if errors.Is(err, ErrIdleTimeout) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// Dial, read and write failures: connection refused or reset, broken pipe.
	var op *net.OpError
	return errors.As(err, &op)
}

// holdsDeadlineExceeded reports whether context.DeadlineExceeded itself is
// in err's chain: a context's deadline passed.
func holdsDeadlineExceeded(err error) bool {
	for err != nil {
		if err == context.DeadlineExceeded {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if holdsDeadlineExceeded(e) {
					return true
				}
			}
			return false
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}
