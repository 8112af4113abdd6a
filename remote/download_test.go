package remote_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

const fileData = "0123456789abcdefghijklmnopqrstuvwxyz"

// ranged serves fileData honouring "bytes=N-" Range headers.
func ranged(w http.ResponseWriter, r *http.Request) {
	var off int
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &off); err == nil && off > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(fileData)-1, len(fileData)))
		w.Header().Set("Content-Length", fmt.Sprint(len(fileData)-off))
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, fileData[off:])
		return
	}
	content(fileData)(w, r)
}

func TestDownloadHeaders(t *testing.T) {
	tests := []struct {
		name  string
		req   remote.DownloadRequest
		check func(t *testing.T, h http.Header)
	}{
		{"plain", remote.DownloadRequest{}, func(t *testing.T, h http.Header) {
			assert.Empty(t, h.Values("share-secret"))
			assert.Empty(t, h.Values("thumbnail"))
			assert.Empty(t, h.Values("Range"))
		}},
		{"restricted", remote.DownloadRequest{ShareSecret: testSecret}, func(t *testing.T, h http.Header) {
			assert.Equal(t, testSecret, h.Get("share-secret"))
		}},
		{"thumbnail", remote.DownloadRequest{Thumbnail: true}, func(t *testing.T, h http.Header) {
			assert.Equal(t, "true", h.Get("thumbnail"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var path string
			s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.Path
				content(fileData)(w, r)
			}}}
			c := newClient(t, newServer(t, s).URL)
			d, got, err := download(context.Background(), c, tc.req)
			require.NoError(t, err)
			assert.Equal(t, fileData, got)
			assert.Equal(t, int64(len(fileData)), d.Size)
			assert.Equal(t, "application/octet-stream", d.ContentType)
			assert.Equal(t, "/app-id/"+testAppID+"/chatfiles/"+testUUID, path)
			h := s.header(0)
			assert.Equal(t, "application/octet-stream", h.Get("Accept"))
			assert.Equal(t, "Bearer "+testToken, h.Get("Authorization"))
			tc.check(t, h)
		})
	}
}

func TestDownloadRejectsBadUUIDWithoutRequest(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{content("x")}}
	c := newClient(t, newServer(t, s).URL)
	for _, id := range []string{"", "../etc/passwd", "a/b", testUUID + "/x", strings.ToUpper(testUUID), testUUID + "?a=b"} {
		_, err := c.Download(context.Background(), remote.DownloadRequest{UUID: id})
		require.Error(t, err, id)
	}
	assert.Equal(t, 0, s.count())
}

func TestDownloadRange(t *testing.T) {
	t.Run("honoured", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{ranged}}
		c := newClient(t, newServer(t, s).URL)
		d, got, err := download(context.Background(), c, remote.DownloadRequest{Offset: 10})
		require.NoError(t, err)
		assert.Equal(t, "bytes=10-", s.header(0).Get("Range"))
		assert.Equal(t, int64(10), d.Offset)
		assert.Equal(t, int64(len(fileData)), d.Size)
		assert.Equal(t, fileData[10:], got)
	})
	t.Run("ignored", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{content(fileData)}}
		c := newClient(t, newServer(t, s).URL)
		d, got, err := download(context.Background(), c, remote.DownloadRequest{Offset: 10})
		require.NoError(t, err)
		assert.Equal(t, int64(0), d.Offset)
		assert.Equal(t, int64(len(fileData)), d.Size)
		assert.Equal(t, fileData, got)
	})
	t.Run("wrong start", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{status(206, "abc", "Content-Range", "bytes 5-7/36")}}
		c := newClient(t, newServer(t, s).URL)
		_, err := c.Download(context.Background(), remote.DownloadRequest{UUID: testUUID, Offset: 10})
		require.ErrorIs(t, err, remote.ErrMalformedAnswer)
	})
	t.Run("no Range at offset 0", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{ranged}}
		c := newClient(t, newServer(t, s).URL)
		d, got, err := download(context.Background(), c, remote.DownloadRequest{})
		require.NoError(t, err)
		assert.Empty(t, s.header(0).Values("Range"))
		assert.Equal(t, int64(0), d.Offset)
		assert.Equal(t, fileData, got)
	})
}

func TestDownloadTruncatedBody(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{truncated("only part", 100)}}
	c := newClient(t, newServer(t, s).URL)
	d, got, err := download(context.Background(), c, remote.DownloadRequest{})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.True(t, remote.IsRetryable(err))
	assert.Equal(t, int64(100), d.Size)
	assert.Equal(t, "only part", got)
}

func TestDownloadIdleBodyTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "first bytes")
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}}}
	c := newClient(t, newServer(t, s).URL, func(o *remote.Options) { o.IdleBodyTimeout = 200 * time.Millisecond })
	d, err := c.Download(context.Background(), remote.DownloadRequest{UUID: testUUID})
	require.NoError(t, err)
	defer d.Body.Close()
	// A slow reader is not idle: the timer only runs inside Read.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	got, err := io.ReadAll(d.Body)
	require.ErrorIs(t, err, remote.ErrIdleTimeout)
	assert.True(t, remote.IsRetryable(err))
	assert.Equal(t, "first bytes", string(got))
	assert.Less(t, time.Since(start), 2*time.Second)
}

// redirector answers every request under /app-id/ with a redirect to
// target(r), and records the request headers.
func redirector(target func(r *http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target(r), http.StatusFound)
	}
}

func TestDownloadRedirects(t *testing.T) {
	t.Run("other host gets no credentials", func(t *testing.T) {
		storage := &script{steps: []http.HandlerFunc{content(fileData)}}
		// httptest listens on 127.0.0.1; "localhost" is another host name.
		storageURL := strings.Replace(newServer(t, storage).URL, "127.0.0.1", "localhost", 1)
		api := &script{steps: []http.HandlerFunc{redirector(func(*http.Request) string { return storageURL + "/bucket/obj" })}}
		c := newClient(t, newServer(t, api).URL)
		_, got, err := download(context.Background(), c, remote.DownloadRequest{ShareSecret: testSecret, Thumbnail: true})
		require.NoError(t, err)
		assert.Equal(t, fileData, got)
		require.Equal(t, 1, storage.count())
		h := storage.header(0)
		assert.Empty(t, h.Values("Authorization"))
		assert.Empty(t, h.Values("share-secret"))
		assert.Equal(t, "Bearer "+testToken, api.header(0).Get("Authorization"))
		assert.Equal(t, testSecret, api.header(0).Get("share-secret"))
	})
	t.Run("same host keeps credentials", func(t *testing.T) {
		s := &script{}
		s.steps = []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/blob/") {
				content(fileData)(w, r)
				return
			}
			http.Redirect(w, r, "/blob/"+testUUID, http.StatusTemporaryRedirect)
		}}
		c := newClient(t, newServer(t, s).URL)
		_, got, err := download(context.Background(), c, remote.DownloadRequest{ShareSecret: testSecret})
		require.NoError(t, err)
		assert.Equal(t, fileData, got)
		require.Equal(t, 2, s.count())
		assert.Equal(t, "Bearer "+testToken, s.header(1).Get("Authorization"))
		assert.Equal(t, testSecret, s.header(1).Get("share-secret"))
	})
	t.Run("loop", func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{redirector(func(r *http.Request) string { return r.URL.Path + "x" })}}
		c := newClient(t, newServer(t, s).URL)
		_, err := c.Download(context.Background(), remote.DownloadRequest{UUID: testUUID})
		require.ErrorIs(t, err, remote.ErrTooManyRedirects)
		assert.False(t, remote.IsRetryable(err))
		assert.Equal(t, 11, s.count(), "the request and 10 redirects, once")
	})
}

// TestStalledErrorBody: an error answer whose body stalls is bounded by the
// idle timeout too.
func TestStalledErrorBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":`)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}}}
	c := newClient(t, newServer(t, s).URL, func(o *remote.Options) { o.IdleBodyTimeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := c.Download(context.Background(), remote.DownloadRequest{UUID: testUUID})
	require.Error(t, err)
	assert.True(t, remote.IsForbidden(err), "%v", err)
	assert.Less(t, time.Since(start), 2*time.Second)
}
