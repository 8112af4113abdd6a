package metrics

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheckAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9464", "127.0.0.1:0", "[::1]:9464", "localhost:9464", "127.1.2.3:1"} {
		assert.NoError(t, CheckAddr(ok, false), ok)
	}
	for _, bad := range []string{"0.0.0.0:9464", ":9464", "[::]:9464", "10.0.0.1:9464", "host:9464", "127.0.0.1", "127.0.0.1:99999"} {
		assert.Error(t, CheckAddr(bad, false), bad)
	}
	assert.NoError(t, CheckAddr("0.0.0.0:9464", true))
	assert.Error(t, CheckAddr("0.0.0.0", true))
}

// TestServeCountsAndLevels: pushed counts and scraped levels are served,
// and a failing level read does not break the scrape of the rest.
func TestServeCountsAndLevels(t *testing.T) {
	m := New()
	a := m.App("x")
	a.Attempt("upload", 503, 20*time.Millisecond)
	a.Retry("upload")
	a.Attempt("upload", 200, 30*time.Millisecond)
	a.Upload("landed", 42)
	a.Upload("failed", 7)
	m.Watch(func() (Levels, error) {
		return Levels{Apps: []AppLevels{{Name: "x", Waiting: 3, InFlight: 1}}, Cache: CacheLevels{Hits: 5, Bytes: 9}}, nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := m.Serve(ln, slog.New(slog.DiscardHandler))
	defer s.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + ln.Addr().String() + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.CloseIdleConnections()
	text := string(b)
	for _, want := range []string{
		`chatfs_requests_total{app="x",code="503",endpoint="upload"} 1`,
		`chatfs_request_retries_total{app="x",endpoint="upload"} 1`,
		`chatfs_request_duration_seconds_count{app="x",endpoint="upload"} 2`,
		`chatfs_uploads_total{app="x",outcome="landed"} 1`,
		`chatfs_uploads_total{app="x",outcome="failed"} 1`,
		`chatfs_upload_bytes_total{app="x"} 42`,
		`chatfs_upload_queue{app="x",state="waiting"} 3`,
		`chatfs_uploads_in_flight{app="x"} 1`,
		`chatfs_cache_hits_total 5`,
		`chatfs_cache_bytes 9`,
	} {
		assert.Contains(t, text, want)
	}
	assert.False(t, strings.Contains(text, "token"), "nothing secret")
}
