package core_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/remote"
)

// hostileEnv is an app whose remote is the real client, talking to handler
// over loopback HTTP.
func hostileEnv(t *testing.T, handler http.HandlerFunc, edit func(*core.Options)) *env {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := remote.New(remote.Options{
		Endpoint:  remote.Endpoint{BaseURL: srv.URL, AppID: "demo"},
		Tokens:    remote.NewStaticToken("token"),
		Retry:     remote.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		RateLimit: -1,
	})
	require.NoError(t, err)
	return newEnv(t, newFakeRemote(), func(o *core.Options) {
		o.Remote = c
		if edit != nil {
			edit(o)
		}
	})
}

// serveBytes answers a download of data, honouring Range.
func serveBytes(w http.ResponseWriter, r *http.Request, data []byte) {
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// One answer with a wrong Content-Length during the lookup of an unknown
// uuid fails that download, and only it: the announced size is not
// recorded, so the next read downloads the file again and gets it.
func TestProbeWrongLengthDoesNotStick(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	var gets atomic.Int64
	e := hostileEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if gets.Add(1) == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(2*len(data)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(data)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		serveBytes(w, r, data)
	}, nil)
	ctx := context.Background()
	entry, err := e.app.Lookup(ctx, uuidA)
	require.NoError(t, err)
	_, err = readAll(t, e.app, entry)
	require.Error(t, err, "the first download is short of what it announced")
	assert.False(t, e.cache.Has(uuidA))

	entry, err = e.app.Lookup(ctx, uuidA)
	require.NoError(t, err)
	got, err := readAll(t, e.app, entry)
	require.NoError(t, err, "the next read tries again")
	assert.Equal(t, data, got)
	entry, err = e.app.Lookup(ctx, uuidA)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), entry.Record().Size, "the confirmed size is recorded")
}

// A download is bounded by the app's size limit: an endless body is cut
// off with ErrTooLarge once past it, and a larger announced size is
// refused before any byte is read. Nothing is cached.
func TestDownloadBoundedBySizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	for _, announce := range []bool{false, true} {
		t.Run(map[bool]string{false: "endless body", true: "announced too large"}[announce], func(t *testing.T) {
			var sent atomic.Int64
			e := hostileEnv(t, func(w http.ResponseWriter, r *http.Request) {
				if announce {
					w.Header().Set("Content-Length", strconv.Itoa(64<<20))
				}
				w.WriteHeader(http.StatusOK)
				chunk := make([]byte, 64<<10)
				for i := 0; i < 1024 && r.Context().Err() == nil; i++ { // 64 MiB at most
					n, err := w.Write(chunk)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}, func(o *core.Options) { o.MaxSize = limit })
			ctx := context.Background()
			entry, err := e.app.Lookup(ctx, uuidA)
			require.NoError(t, err)
			got, err := readAll(t, e.app, entry)
			require.ErrorIs(t, err, core.ErrTooLarge)
			assert.LessOrEqual(t, len(got), limit)
			// Each fill stops at the limit (the lookup's and the read's may
			// be two: a read after a failed fill tries again).
			st := e.cache.Stats()
			assert.LessOrEqual(t, st.Downloaded, st.Fills*int64(limit))
			assert.False(t, e.cache.Has(uuidA))
			assert.Less(t, sent.Load(), int64(64<<20), "the download was abandoned")
		})
	}
}

// The lookup of an unknown uuid answers once the answer's headers are in;
// it does not wait for body bytes (a slow server must not stall stat).
func TestProbeAnswersOnHeaders(t *testing.T) {
	t.Parallel()
	data := []byte(strings.Repeat("slow body ", 100))
	release := make(chan struct{})
	e := hostileEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(data)
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entry, err := e.app.Lookup(ctx, uuidA) // returns while the server holds the body
	close(release)
	require.NoError(t, err)
	assert.Equal(t, uuidA, entry.File().UUID())
	got, err := readAll(t, e.app, entry)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	xs, err := e.app.Xattrs(ctx, entry, true)
	require.NoError(t, err)
	assert.Contains(t, xs, core.Xattr{Name: "user.mime_type", Value: "text/plain; charset=utf-8"})
}
