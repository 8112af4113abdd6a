package emulator

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartAndStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r, err := Start(context.Background(), "127.0.0.1:0", Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(r.URL, "http://127.0.0.1:"), r.URL)

	e := &env{t: t, srv: r.Server, url: r.URL, dir: dir}
	e.ms.Store(time.Now().UnixMilli())
	tok := r.Server.Token()
	h := map[string]string{"Authorization": "Bearer " + tok}
	a := e.upload("/app-id/X", "a.txt", []byte("served"), h)
	require.Equal(t, 200, a.status, string(a.body))
	var ua uploadAnswer
	require.NoError(t, jsonUnmarshal(a.body, &ua))
	assert.Equal(t, r.URL+"/app-id/X/chatfiles", ua.URI)
	assert.Equal(t, "served", string(e.get("/app-id/X", ua.Entities[0].UUID, h).body))

	// Headers over 64 KiB are refused by net/http.
	req, err := http.NewRequest(http.MethodGet, r.URL+"/app-id/X/chatfiles/"+ua.Entities[0].UUID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Huge", strings.Repeat("x", 80<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	require.NoError(t, r.Stop())
	require.NoError(t, r.Stop(), "Stop is idempotent")
	_, err = http.Get(r.URL + "/app-id/X/chatfiles")
	assert.Error(t, err, "no longer listening")
}

func TestStartStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Start(ctx, "127.0.0.1:0", Options{Dir: t.TempDir(), Token: "t", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	cancel()
	require.Eventually(t, func() bool {
		_, err := http.Get(r.URL + "/")
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, r.Stop())
}

func TestStartErrors(t *testing.T) {
	_, err := Start(context.Background(), "127.0.0.1:0", Options{})
	assert.Error(t, err, "Dir is required")
	_, err = Start(context.Background(), "256.0.0.1:http", Options{Dir: t.TempDir(), Token: "t"})
	assert.Error(t, err)
}
