package remote_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// TestRateLimiter hammers the client from many goroutines for a short
// window and counts the calls that reach the server: at most rate·window
// plus the burst (and one for the call in flight at the deadline).
// Uploads and downloads have separate limiters.
func TestRateLimiter(t *testing.T) {
	const (
		perSecond = 20
		window    = time.Second
		burst     = perSecond // newLimiter: one second's worth
	)
	uploads := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		status(200, uploadAnswer("http://"+r.Host, testUUID, ""))(w, r)
	}}}
	downloads := &script{steps: []http.HandlerFunc{content("x")}}
	mux := http.NewServeMux()
	mux.Handle("POST /", uploads)
	mux.Handle("GET /", downloads)
	c := newClient(t, newServer(t, mux).URL, func(o *remote.Options) { o.RateLimit = perSecond })

	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		// A caller stops at its first error: the limiter refuses a wait
		// that would outlast the window, and callers spinning on that
		// refusal would starve the server on a busy machine.
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, _, err := download(ctx, c, remote.DownloadRequest{}); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := c.Upload(ctx, remote.UploadRequest{Name: "a", File: readerAt("x"), Size: 1}); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	max := int(perSecond*window.Seconds()) + burst + 1
	for name, s := range map[string]*script{"uploads": uploads, "downloads": downloads} {
		assert.LessOrEqual(t, s.count(), max, name)
		assert.Positive(t, s.count(), name) // their independence: TestLimitersPerKind
	}
}

func TestRateLimiterDisabled(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{content("x")}}
	c := newClient(t, newServer(t, s).URL) // RateLimit -1
	for range 50 {
		_, _, err := download(context.Background(), c, remote.DownloadRequest{})
		require.NoError(t, err)
	}
	assert.Equal(t, 50, s.count())
}
