//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// Close ends a cache fill and a lookup probe that are blocked in the
// server, and waits for them before it closes the cache and the index:
// it returns promptly, and no goroutine of the mount (fill, probe, idle
// connection) is left to write into the closed index.
func TestCloseCancelsBlockedFillAndProbe(t *testing.T) {
	requireFUSE(t)
	svc := newService(t, emulator.Options{})
	before := goleak.IgnoreCurrent()
	data := bytes.Repeat([]byte("0123456789"), 50_000)
	c := svc.client(t, appID)
	var uuids []string
	for _, name := range []string{"fill.bin", "probe.bin"} {
		res, err := c.Upload(context.Background(), remote.UploadRequest{Name: name, File: bytes.NewReader(data), Size: int64(len(data))})
		require.NoError(t, err)
		uuids = append(uuids, res.UUID)
	}
	c.Close()
	fillUUID, probeUUID := uuids[0], uuids[1]

	// The fill's body stops halfway; the probe gets no answer at all.
	// Both wait for the client to give up (or a minute, to fail loudly).
	blocked := make(chan string, 2)
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		uuid := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		if r.Method != http.MethodGet || (uuid != fillUUID && uuid != probeUUID) {
			return false
		}
		if uuid == fillUUID {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
		}
		blocked <- uuid
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return true
	}
	svc.hook.Store(&hook)

	h := newHarness(t, svc, "")
	app := h.m.Apps[0]
	// Lookups whose FUSE request was interrupted: their probes (and the
	// fill the first one seeds) go on without them.
	ctx, cancel := context.WithCancel(context.Background())
	for _, uuid := range uuids {
		go func() { _, _ = app.Lookup(ctx, uuid) }()
	}
	got := map[string]bool{<-blocked: true, <-blocked: true}
	require.Equal(t, map[string]bool{fillUUID: true, probeUUID: true}, got)
	cancel()

	start := time.Now()
	require.NoError(t, h.m.Close(0))
	h.m = nil
	took := time.Since(start)
	assert.Less(t, took, 10*time.Second, "Close waited for the server instead of cancelling")
	t.Logf("Close took %v with a fill and a probe blocked in the server", took)

	_, err := app.Lookup(context.Background(), probeUUID)
	assert.Error(t, err, "lookups fail once the app is closed")
	svc.hook.Store(nil)
	goleak.VerifyNone(t, before)
}
