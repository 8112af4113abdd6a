package remote_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// A burst of downloads opens at most MaxConnsPerHost connections; the
// requests beyond it wait for one and all complete.
func TestMaxConnsPerHost(t *testing.T) {
	const limit, requests = 2, 8
	var (
		mu            sync.Mutex
		conns, active int
		most          int
	)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		active++
		most = max(most, active)
		reached := active == limit
		mu.Unlock()
		if reached {
			close(release)
		}
		<-release
		mu.Lock()
		active--
		mu.Unlock()
		content(fileData)(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, func(o *remote.Options) { o.MaxConnsPerHost = limit })
	defer c.Close()

	var wg sync.WaitGroup
	errs := make([]error, requests)
	for i := range requests {
		wg.Go(func() {
			d, err := c.Download(context.Background(), remote.DownloadRequest{UUID: testUUID})
			if err == nil {
				_, err = io.Copy(io.Discard, d.Body)
				d.Body.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, limit, most, "requests served at once")
	assert.Equal(t, limit, conns, "connections opened")
}
