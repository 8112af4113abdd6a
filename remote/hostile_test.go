package remote_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// Hostile servers: what a broken proxy, a misconfigured CDN or a malicious
// host may answer. Every case must end in a clear error (or the right
// bytes), within bounded time and memory, without panicking, and without
// credentials going where they should not.

// raw answers with exactly the bytes of resp (status line, headers, body),
// then closes the connection, so that framing can be wrong on purpose.
func raw(resp string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = buf.WriteString(resp)
		_ = buf.Flush()
	}
}

func upload(c *remote.Client) error {
	_, err := c.Upload(context.Background(), remote.UploadRequest{Name: "a.txt", File: readerAt("hello"), Size: 5})
	return err
}

func downloadAt(c *remote.Client, offset int64) error {
	_, _, err := download(context.Background(), c, remote.DownloadRequest{Offset: offset, ShareSecret: testSecret})
	return err
}

// printable: no control characters, so safe in a log line or a terminal.
func printable(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

func TestHostileAnswers(t *testing.T) {
	u := testUUID
	malformed := func(t *testing.T, err error, calls int) {
		require.ErrorIs(t, err, remote.ErrMalformedAnswer)
		assert.False(t, remote.IsRetryable(err))
		assert.Equal(t, 1, calls, "a malformed answer is not retried")
	}
	tests := []struct {
		name  string
		h     http.HandlerFunc
		call  func(*remote.Client) error
		check func(t *testing.T, err error, calls int)
	}{
		{"upload answer: truncated JSON", status(200, `{"entities":[{"uuid":`), upload, malformed},
		{"upload answer: JSON array", status(200, `[]`), upload, malformed},
		{"upload answer: null", status(200, `null`), upload, malformed},
		{"upload answer: HTML with 200", status(200, "<html><body>Welcome to nginx!</body></html>"), upload, malformed},
		{"upload answer: no entities", status(200, `{"action":"post","entities":[]}`), upload, malformed},
		{"upload answer: entities not a list", status(200, `{"entities":{"uuid":"`+u+`"}}`), upload, malformed},
		{"upload answer: uuid not a string", status(200, `{"entities":[{"uuid":5}]}`), upload, malformed},
		{"upload answer: uppercase uuid", status(200, uploadAnswer("https://h", strings.ToUpper(u), "s")), upload, malformed},
		{"upload answer: uuid with ../", status(200, uploadAnswer("https://h", "../../../../../../../../../../etc/pw", "s")), upload, malformed},
		{"upload answer: uuid with a slash", status(200, uploadAnswer("https://h", u[:8]+"/"+u[9:], "s")), upload, malformed},
		{"upload answer: Content-Length shorter than the JSON", raw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n" + uploadAnswer("https://h", u, "s")), upload, malformed},
		{"upload answer: Content-Length longer than the JSON", truncated(uploadAnswer("https://h", u, "s"), 5000), upload,
			func(t *testing.T, err error, calls int) {
				// Unexpected EOF, or a reset as the server closes with
				// the request body unread: both are retried, boundedly.
				assert.True(t, remote.IsRetryable(err))
				assert.Equal(t, fastRetry.MaxAttempts, calls)
			}},
		{"upload: 502 HTML page from a proxy", status(502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"), upload,
			func(t *testing.T, err error, calls int) {
				var e *remote.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, 502, e.Status)
				assert.Contains(t, e.Body, "502 Bad Gateway")
				assert.True(t, printable(err.Error()))
				assert.Equal(t, fastRetry.MaxAttempts, calls)
			}},
		{"download: error body with control characters", status(403, "{\"error\":\"forbidden\\n\\u001b[2J\",\"error_description\":\"\\u0007bell\\r\\nInjected: log line\"}"), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) {
				assert.True(t, remote.IsForbidden(err))
				assert.True(t, printable(err.Error()), "%q", err.Error())
			}},
		{"download: negative Content-Length", raw("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello"), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) { require.Error(t, err) }},
		{"download: garbage Content-Length", raw("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello"), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) { require.Error(t, err) }},
		{"download: two different Content-Lengths", raw("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello"), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) { require.Error(t, err) }},
		{"download: Content-Length longer than the body", truncated("hello", 100), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) { require.ErrorIs(t, err, io.ErrUnexpectedEOF) }},
		{"download: 206 for the wrong offset", status(206, "xxxxx", "Content-Range", "bytes 0-4/10"), func(c *remote.Client) error { return downloadAt(c, 5) },
			func(t *testing.T, err error, calls int) { malformed(t, err, calls) }},
		{"download: 206 with an invalid Content-Range", status(206, "xxxxx", "Content-Range", "bytes 9-5/10"), func(c *remote.Client) error { return downloadAt(c, 5) },
			func(t *testing.T, err error, calls int) { malformed(t, err, calls) }},
		{"download: 206 without Content-Range", status(206, "xxxxx"), func(c *remote.Client) error { return downloadAt(c, 5) },
			func(t *testing.T, err error, calls int) { malformed(t, err, calls) }},
		{"download: 206 not asked for", status(206, "xxxxx", "Content-Range", "bytes 0-4/10"), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) { malformed(t, err, calls) }},
		{"download: 206 with more bytes than its range", status(206, "xxxxxxxxxx", "Content-Range", "bytes 5-6/10"), func(c *remote.Client) error { return downloadAt(c, 5) },
			func(t *testing.T, err error, calls int) { require.ErrorContains(t, err, "more than announced") }},
		{"download: 401 forever", status(401, errorBody(remote.CodeBadAccessToken, "Unable to authenticate due to corrupt access token")), nil,
			func(t *testing.T, err error, calls int) {
				assert.True(t, remote.IsUnauthorized(err))
				assert.Equal(t, 2, calls, "the first try and one with the renewed token")
			}},
		{"download: 429 with an absurd Retry-After", status(429, errorBody(remote.CodeReachLimit, "This request has reached API limit."), "Retry-After", "9223372036854775807"), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) {
				var e *remote.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, remote.CodeReachLimit, e.Code)
				assert.Equal(t, 1, calls, "a wait past the time budget gives up at once rather than retrying early")
			}},
		{"download: redirect to file://", redirector(func(*http.Request) string { return "file:///etc/passwd" }), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) {
				require.ErrorContains(t, err, "unsupported protocol scheme")
				assert.False(t, remote.IsRetryable(err))
				assert.Equal(t, 1, calls)
			}},
		{"download: redirect loop", redirector(func(r *http.Request) string { return r.URL.Path }), func(c *remote.Client) error { return downloadAt(c, 0) },
			func(t *testing.T, err error, calls int) {
				require.ErrorIs(t, err, remote.ErrTooManyRedirects)
				assert.Equal(t, 11, calls)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{steps: []http.HandlerFunc{tt.h}}
			tokens := &countingTokens{tok: testToken, renewed: "007renewed"}
			c := newClient(t, newServer(t, s).URL, func(o *remote.Options) { o.Tokens = tokens })
			call := tt.call
			if call == nil {
				call = func(c *remote.Client) error { return downloadAt(c, 0) }
			}
			start := time.Now()
			err := call(c)
			require.Error(t, err)
			t.Logf("%v", err)
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.Less(t, len(err.Error()), 1024)
			assert.NotContains(t, err.Error(), testToken)
			assert.NotContains(t, err.Error(), testSecret)
			tt.check(t, err, s.count())
			assert.LessOrEqual(t, tokens.renews.Load(), int32(1), "renewed at most once")
		})
	}
}

// credentials records what the other host saw.
type credentials struct {
	auth, secret, query atomic.Value
}

func TestRedirectToAnotherHostCarriesNoCredentials(t *testing.T) {
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var seen credentials
			other := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.auth.Store(r.Header.Get("Authorization"))
				seen.secret.Store(r.Header.Get("share-secret"))
				seen.query.Store(r.URL.RawQuery)
				content(fileData)(w, r)
			}))
			// Another port on the same address is another host too.
			api := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/bucket/obj?sig=abc", code)
			}}}
			c := newClient(t, newServer(t, api).URL)
			_, got, err := download(context.Background(), c, remote.DownloadRequest{ShareSecret: testSecret})
			require.NoError(t, err)
			assert.Equal(t, fileData, got)
			assert.Equal(t, testSecret, api.header(0).Get("share-secret"), "the API host gets the secret")
			assert.Empty(t, seen.auth.Load(), "no token to the other host")
			assert.Empty(t, seen.secret.Load(), "no share-secret header to the other host")
			assert.Equal(t, "sig=abc", seen.query.Load(), "no share-secret added to the query")
		})
	}
}

func TestSlowlorisHeadersNeverArrive(t *testing.T) {
	release := make(chan struct{})
	s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}}}
	srv := newServer(t, s)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := newClient(t, srv.URL, func(o *remote.Options) {
		o.HeaderTimeout = 100 * time.Millisecond
		o.Retry.MaxAttempts = 2
	})
	start := time.Now()
	err := downloadAt(c, 0)
	require.Error(t, err)
	var ne interface{ Timeout() bool }
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a timeout: %v", err)
	assert.True(t, remote.IsRetryable(err))
	assert.Equal(t, 2, s.count())
	assert.Less(t, time.Since(start), 3*time.Second)
}

// giant streams n bytes of fill after head, counting what it could write.
func giant(code int, head string, fill byte, n int64, wrote *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(int64(len(head))+n))
		w.WriteHeader(code)
		k, _ := io.WriteString(w, head)
		wrote.Add(int64(k))
		chunk := bytes.Repeat([]byte{fill}, 64<<10)
		for left := n; left > 0; {
			k, err := w.Write(chunk[:min(left, int64(len(chunk)))])
			wrote.Add(int64(k))
			left -= int64(k)
			if err != nil {
				return
			}
		}
	}
}

// allocated runs f and returns the bytes allocated meanwhile, by every
// goroutine (the tests of this file do not run in parallel).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const hundredMB = 100 << 20

func TestGiantBodiesAreNotReadWhole(t *testing.T) {
	oneTry := func(o *remote.Options) { o.Retry.MaxAttempts = 1 }
	t.Run("100 MB error body", func(t *testing.T) {
		var wrote atomic.Int64
		c := newClient(t, newServer(t, giant(500, `{"error":"x","error_description":"`, 'x', hundredMB, &wrote)).URL, oneTry)
		var err error
		alloc := allocated(func() { err = downloadAt(c, 0) })
		var e *remote.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 500, e.Status)
		t.Logf("allocated %d KiB; the server wrote %d KiB", alloc>>10, wrote.Load()>>10)
		assert.Less(t, alloc, uint64(32<<20))
		assert.Less(t, wrote.Load(), int64(hundredMB/2))
	})
	t.Run("100 MB upload answer", func(t *testing.T) {
		var wrote atomic.Int64
		head := `{"entities":[{"uuid":"` + testUUID + `"}]}`
		c := newClient(t, newServer(t, giant(200, head, ' ', hundredMB, &wrote)).URL, oneTry)
		var err error
		alloc := allocated(func() { err = upload(c) })
		require.ErrorIs(t, err, remote.ErrMalformedAnswer, "valid JSON, but past the cap")
		require.ErrorContains(t, err, "larger than")
		t.Logf("allocated %d KiB; the server wrote %d KiB", alloc>>10, wrote.Load()>>10)
		assert.Less(t, alloc, uint64(32<<20))
		assert.Less(t, wrote.Load(), int64(hundredMB/2))
	})
	t.Run("upload answer just under the cap", func(t *testing.T) {
		var wrote atomic.Int64
		head := `{"entities":[{"uuid":"` + testUUID + `"}]}`
		c := newClient(t, newServer(t, giant(200, head, ' ', 1<<20-int64(len(head)), &wrote)).URL, oneTry)
		require.NoError(t, upload(c))
	})
}

// gzipBomb returns a gzip stream that inflates to head and n bytes of
// fill: one member for head, then one member of 1 MiB of fill repeated
// (readers of gzip read concatenated members as one stream).
func gzipBomb(t *testing.T, head string, fill byte, n int) []byte {
	member := func(data []byte) []byte {
		var b bytes.Buffer
		zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		require.NoError(t, err)
		_, _ = zw.Write(data)
		require.NoError(t, zw.Close())
		return b.Bytes()
	}
	mib := member(bytes.Repeat([]byte{fill}, 1<<20))
	return append(member([]byte(head)), bytes.Repeat(mib, n>>20)...)
}

func TestGzipBomb(t *testing.T) {
	const inflated = 256 << 20
	serve := func(code int, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(code)
			_, _ = w.Write(body)
		}
	}
	oneTry := func(o *remote.Options) { o.Retry.MaxAttempts = 1 }
	answer := gzipBomb(t, `{"entities":[{"uuid":"`+testUUID+`"}]}`, ' ', inflated)
	errBody := gzipBomb(t, `{"error":"`, 'x', inflated)
	t.Logf("%d MiB inflate from %d KiB", inflated>>20, len(answer)>>10)

	// The transport does inflate gzip answers: a small one is understood.
	small := gzipBomb(t, `{"entities":[{"uuid":"`+testUUID+`"}]}`, ' ', 0)
	require.NoError(t, upload(newClient(t, newServer(t, serve(200, small)).URL, oneTry)))

	c := newClient(t, newServer(t, serve(200, answer)).URL, oneTry)
	var err error
	alloc := allocated(func() { err = upload(c) })
	require.ErrorIs(t, err, remote.ErrMalformedAnswer)
	assert.Less(t, alloc, uint64(32<<20), "upload answer")

	c = newClient(t, newServer(t, serve(503, errBody)).URL, oneTry)
	alloc = allocated(func() { err = downloadAt(c, 0) })
	var e *remote.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 503, e.Status)
	assert.Less(t, alloc, uint64(32<<20), "error body")
}
