package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// predicates names every classifier, so that each table row can say which
// must hold; all the others must not.
var predicates = map[string]func(error) bool{
	"IsNotExist":      remote.IsNotExist,
	"IsExpired":       remote.IsExpired,
	"IsAppNotFound":   remote.IsAppNotFound,
	"IsUnauthorized":  remote.IsUnauthorized,
	"IsForbidden":     remote.IsForbidden,
	"IsTooLarge":      remote.IsTooLarge,
	"IsInvalid":       remote.IsInvalid,
	"IsQuotaExceeded": remote.IsQuotaExceeded,
	"IsRetryable":     remote.IsRetryable,
}

// TestErrorTable feeds every documented error answer (DESIGN.md §1) to both
// calls and checks the typed error, the predicates and the number of attempts.
func TestErrorTable(t *testing.T) {
	html := "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>"
	tests := []struct {
		name     string
		status   int
		body     string
		want     []string // predicates that hold
		attempts int      // with fastRetry (4 attempts)
		code     string
	}{
		{"400 illegal_argument", 400, errorBody("illegal_argument", "file must be provided."), []string{"IsInvalid"}, 1, "illegal_argument"},
		{"401 bad token", 401, errorBody("auth_bad_access_token", "Unable to authenticate due to corrupt access token"), []string{"IsUnauthorized"}, 1, "auth_bad_access_token"},
		{"401 expired token", 401, errorBody("unauthorized", "Unable to authenticate due to expired access token"), []string{"IsUnauthorized"}, 1, "unauthorized"},
		{"403", 403, errorBody("forbidden_op", "share secret mismatch"), []string{"IsForbidden"}, 1, "forbidden_op"},
		{"404 entity_not_found", 404, errorBody("entity_not_found", "file may not exists"), []string{"IsNotExist"}, 1, "entity_not_found"},
		{"404 file_expired", 404, errorBody("file_expired", "file "+testUUID+" is expired"), []string{"IsNotExist", "IsExpired"}, 1, "file_expired"},
		{"404 app not found", 404, errorBody("organization_application_not_found", "Could not find application for app-id"), []string{"IsAppNotFound"}, 1, "organization_application_not_found"},
		{"404 html", 404, "<html>Not Found</html>", []string{"IsNotExist"}, 1, ""},
		{"413", 413, errorBody("file exceeding maximum limit", "the file size exceeds the maximum limit."), []string{"IsTooLarge"}, 1, "file exceeding maximum limit"},
		{"429 reach_limit", 429, errorBody("reach_limit", "This request has reached API limit."), []string{"IsRetryable"}, 4, "reach_limit"},
		{"429 resource_limited", 429, errorBody("resource_limited", "You have exceeded the limit of the free version."), []string{"IsQuotaExceeded"}, 1, "resource_limited"},
		{"408", 408, "", []string{"IsRetryable"}, 4, ""},
		{"500", 500, errorBody("internal_error", "oops"), []string{"IsRetryable"}, 4, "internal_error"},
		{"502 html", 502, html, []string{"IsRetryable"}, 4, ""},
		{"503 garbage", 503, "\x00\x01garbage", []string{"IsRetryable"}, 4, ""},
		{"504", 504, "", []string{"IsRetryable"}, 4, ""},
	}
	for _, tc := range tests {
		for _, op := range []string{"upload", "download"} {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				s := &script{steps: []http.HandlerFunc{status(tc.status, tc.body)}}
				c := newClient(t, newServer(t, s).URL)
				var err error
				if op == "upload" {
					_, err = c.Upload(context.Background(), remote.UploadRequest{Name: "a.txt", File: readerAt("hello"), Size: 5})
				} else {
					_, _, err = download(context.Background(), c, remote.DownloadRequest{})
				}
				require.Error(t, err)
				var e *remote.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tc.status, e.Status)
				assert.Equal(t, tc.code, e.Code)
				for name, pred := range predicates {
					assert.Equal(t, contains(tc.want, name), pred(err), "%s(%v)", name, err)
				}
				assert.Equal(t, tc.attempts, s.count(), "attempts")
				assert.NotContains(t, err.Error(), testToken)
				if tc.body == html {
					assert.Contains(t, e.Body, "502 Bad Gateway")
					assert.NotContains(t, e.Body, "\n")
				}
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestErrorBodyIsCapped(t *testing.T) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = 'x'
	}
	c := newClient(t, newServer(t, status(400, string(big))).URL)
	_, _, err := download(context.Background(), c, remote.DownloadRequest{})
	var e *remote.Error
	require.ErrorAs(t, err, &e)
	assert.Less(t, len(e.Body), 1024)
	assert.Less(t, len(err.Error()), 1024)
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsRetryableNetworkErrors(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{io.EOF, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
		{timeoutErr{}, true},
		{remote.ErrIdleTimeout, true},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{remote.ErrMalformedAnswer, false},
		{remote.ErrTooManyRedirects, false},
		{remote.ErrShortFile, false},
		{errors.New("something else"), false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, remote.IsRetryable(tc.err), "%v", tc.err)
	}
}

// TestConnectionRefusedIsRetried dials a port nobody listens on.
func TestConnectionRefusedIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, "http://"+addr)
	_, _, err = download(context.Background(), c, remote.DownloadRequest{})
	require.Error(t, err)
	assert.True(t, remote.IsRetryable(err), "%v", err)
	assert.Contains(t, err.Error(), "gave up after 4 attempts")
}
