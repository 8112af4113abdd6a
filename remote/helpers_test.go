package remote_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

const (
	testUUID   = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"
	testToken  = "007test-token"
	testSecret = "X9dXs3ecret"
	testAppID  = "970CA35de60c44645bbae8a215061b33"
)

// newServer starts a loopback server that is closed when the test ends.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// fastRetry retries quickly so that failure tables run in milliseconds.
var fastRetry = remote.RetryPolicy{
	MaxAttempts:    4,
	InitialBackoff: time.Millisecond,
	MaxBackoff:     5 * time.Millisecond,
	MaxElapsed:     5 * time.Second,
}

// newClient returns a client of app testAppID at baseURL, without rate
// limit and with fast retries, as changed by opts.
func newClient(t *testing.T, baseURL string, opts ...func(*remote.Options)) *remote.Client {
	t.Helper()
	o := remote.Options{
		Endpoint:  remote.Endpoint{BaseURL: baseURL, AppID: testAppID},
		Tokens:    remote.NewStaticToken(testToken),
		Retry:     fastRetry,
		RateLimit: -1,

		HistoryPerMinute: -1,
	}
	for _, f := range opts {
		f(&o)
	}
	c, err := remote.New(o)
	require.NoError(t, err)
	return c
}

// errorBody renders an error answer the way the service does.
func errorBody(code, desc string) string {
	return fmt.Sprintf(`{"error":%q,"exception":"com.easemob.Exception","timestamp":1554371126338,"duration":0,"error_description":%q}`, code, desc)
}

// uploadAnswer renders a 200 upload answer.
func uploadAnswer(host, uuid, secret string) string {
	return fmt.Sprintf(`{"action":"post","path":"/chatfiles","uri":"%s/app-id/%s/chatfiles",`+
		`"entities":[{"uuid":%q,"type":"chatfile","share-secret":%q}],"timestamp":1554371126338,"duration":0}`,
		host, testAppID, uuid, secret)
}

// script answers the n-th request (from 0) with steps[n], repeating the last
// step, and records requests.
type script struct {
	steps []http.HandlerFunc
	calls atomic.Int32

	mu      sync.Mutex
	headers []http.Header // GUARDED_BY(mu)
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.calls.Add(1)) - 1
	s.mu.Lock()
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	s.steps[min(n, len(s.steps)-1)](w, r)
}

func (s *script) count() int { return int(s.calls.Load()) }

func (s *script) header(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[i]
}

// status answers with a status, a body and extra headers (name, value pairs).
func status(code int, body string, kv ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// content serves data as the file, ignoring Range.
func content(data string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		fmt.Fprint(w, data)
	}
}

// dropConn closes the connection without answering.
func dropConn(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// truncated announces more bytes than it sends, then closes.
func truncated(body string, announced int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", announced, body)
		buf.Flush()
	}
}

// countingTokens is a TokenSource whose Renew gives renewed, counting calls.
type countingTokens struct {
	tok, renewed string
	renews       atomic.Int32
}

func (c *countingTokens) Token(context.Context) (string, error) { return c.tok, nil }

func (c *countingTokens) Renew(context.Context, string) (string, error) {
	c.renews.Add(1)
	return c.renewed, nil
}

// download opens testUUID and reads it whole.
func download(ctx context.Context, c *remote.Client, req remote.DownloadRequest) (*remote.Download, string, error) {
	if req.UUID == "" {
		req.UUID = testUUID
	}
	d, err := c.Download(ctx, req)
	if err != nil {
		return nil, "", err
	}
	defer d.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, d.Body)
	return d, b.String(), err
}

func readerAt(s string) io.ReaderAt { return strings.NewReader(s) }
