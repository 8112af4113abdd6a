package remote_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// TestRetriesTransientFailures: each failure is followed by success, which
// both calls must reach, in two attempts.
func TestRetriesTransientFailures(t *testing.T) {
	failures := map[string]http.HandlerFunc{
		"500":             status(500, errorBody("internal_error", "x")),
		"502":             status(502, "<html>bad gateway</html>"),
		"503":             status(503, ""),
		"504":             status(504, ""),
		"408":             status(408, ""),
		"429 reach_limit": status(429, errorBody("reach_limit", "This request has reached API limit.")),
		"dropped":         dropConn,
		"truncated":       truncated(`{"act`, 500),
	}
	// A download's body is the caller's stream: it is not retried, it fails
	// (TestDownloadTruncatedBody). An error answer cut short is retried.
	downloadFailures := map[string]http.HandlerFunc{
		"truncated error": func(w http.ResponseWriter, r *http.Request) {
			conn, buf, _ := http.NewResponseController(w).Hijack()
			defer conn.Close()
			buf.WriteString("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\n{\"err")
			buf.Flush()
		},
	}
	for name, fail := range failures {
		t.Run(name+"/upload", func(t *testing.T) {
			var s *script
			ok := func(w http.ResponseWriter, r *http.Request) {
				status(200, uploadAnswer("http://"+r.Host, testUUID, testSecret))(w, r)
			}
			s = &script{steps: []http.HandlerFunc{fail, ok}}
			c := newClient(t, newServer(t, s).URL)
			res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "a.txt", File: readerAt("hello"), Size: 5})
			require.NoError(t, err)
			assert.Equal(t, testUUID, res.UUID)
			assert.Equal(t, 2, s.count())
		})
		if name == "truncated" {
			continue
		}
		downloadFailures[name] = fail
	}
	for name, fail := range downloadFailures {
		t.Run(name+"/download", func(t *testing.T) {
			s := &script{steps: []http.HandlerFunc{fail, content("hello")}}
			c := newClient(t, newServer(t, s).URL)
			_, got, err := download(context.Background(), c, remote.DownloadRequest{})
			require.NoError(t, err)
			assert.Equal(t, "hello", got)
			assert.Equal(t, 2, s.count())
		})
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(503, "")}}
	c := newClient(t, newServer(t, s).URL, func(o *remote.Options) { o.Retry.MaxAttempts = 3 })
	_, _, err := download(context.Background(), c, remote.DownloadRequest{})
	require.Error(t, err)
	assert.Equal(t, 3, s.count())
	assert.True(t, remote.IsRetryable(err))
}

// TestRetryAfterBeyondBudget: a Retry-After longer than the time budget left
// ends the call at once rather than sleeping past the budget.
func TestRetryAfterBeyondBudget(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(503, "", "Retry-After", "50")}}
	c := newClient(t, newServer(t, s).URL, func(o *remote.Options) { o.Retry.MaxElapsed = 2 * time.Second })
	start := time.Now()
	_, _, err := download(context.Background(), c, remote.DownloadRequest{})
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, 1, s.count())
	var e *remote.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 50*time.Second, e.RetryAfter)
}

func TestRetryAfterHonoured(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{
		status(429, errorBody("reach_limit", "This request has reached API limit."), "Retry-After", "1"),
		content("ok"),
	}}
	c := newClient(t, newServer(t, s).URL)
	start := time.Now()
	_, got, err := download(context.Background(), c, remote.DownloadRequest{})
	require.NoError(t, err)
	assert.Equal(t, "ok", got)
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
}

func TestRetryStopsOnCancel(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(503, "")}}
	c := newClient(t, newServer(t, s).URL, func(o *remote.Options) {
		o.Retry = remote.RetryPolicy{MaxAttempts: 100, InitialBackoff: time.Second, MaxBackoff: time.Second, MaxElapsed: time.Minute}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := download(ctx, c, remote.DownloadRequest{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, remote.IsRetryable(err))
	assert.Less(t, time.Since(start), 2*time.Second)
}

// TestUnauthorizedRenewsOnce: a 401 makes the client renew the token once
// and retry with the new one; a second 401 is returned.
func TestUnauthorizedRenewsOnce(t *testing.T) {
	refuseOld := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			status(401, errorBody("unauthorized", "Unable to authenticate due to expired access token"))(w, r)
			return
		}
		content("ok")(w, r)
	}
	t.Run("renewed token accepted", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{refuseOld}}
		toks := &countingTokens{tok: "old", renewed: "new"}
		c := newClient(t, newServer(t, s).URL, func(o *remote.Options) { o.Tokens = toks })
		_, got, err := download(context.Background(), c, remote.DownloadRequest{})
		require.NoError(t, err)
		assert.Equal(t, "ok", got)
		assert.Equal(t, int32(1), toks.renews.Load())
		assert.Equal(t, 2, s.count())
		assert.Equal(t, "Bearer old", s.header(0).Get("Authorization"))
		assert.Equal(t, "Bearer new", s.header(1).Get("Authorization"))
	})
	t.Run("renewed token refused", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{refuseOld}}
		toks := &countingTokens{tok: "old", renewed: "still-bad"}
		c := newClient(t, newServer(t, s).URL, func(o *remote.Options) { o.Tokens = toks })
		_, err := c.Upload(context.Background(), remote.UploadRequest{Name: "a", File: readerAt("x"), Size: 1})
		require.Error(t, err)
		assert.True(t, remote.IsUnauthorized(err))
		assert.False(t, remote.IsRetryable(err))
		assert.Equal(t, int32(1), toks.renews.Load())
		assert.Equal(t, 2, s.count())
	})
	t.Run("static token cannot renew", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{refuseOld}}
		c := newClient(t, newServer(t, s).URL)
		_, _, err := download(context.Background(), c, remote.DownloadRequest{})
		require.ErrorIs(t, err, remote.ErrNoBetterToken)
		assert.True(t, remote.IsUnauthorized(err))
		assert.Equal(t, 1, s.count())
	})
}

func TestBackoffDoesNotRetryPermanent(t *testing.T) {
	for _, code := range []int{400, 403, 404, 413} {
		s := &script{steps: []http.HandlerFunc{status(code, "")}}
		c := newClient(t, newServer(t, s).URL)
		_, _, err := download(context.Background(), c, remote.DownloadRequest{})
		require.Error(t, err)
		assert.Equal(t, 1, s.count(), "status %d", code)
	}
}
