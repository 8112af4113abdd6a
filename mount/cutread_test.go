//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// A download that breaks off, and whose retries the server drops before
// answering (a connection closed before any response: the client's error
// wraps io.EOF), is an error to the reader: never a short file that reads
// as complete.
func TestBrokenDownloadIsEIONotEOF(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	data := randomBytes(t, 1<<20)
	res, err := svc.client(t, appID).Upload(context.Background(), remote.UploadRequest{Name: "x.bin", File: bytes.NewReader(data), Size: int64(len(data))})
	require.NoError(t, err)

	var gets atomic.Int64
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, res.UUID) {
			return false
		}
		if gets.Add(1) == 1 {
			// The first answer (the lookup's probe) breaks off half way.
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(data[:len(data)/2])
		}
		// Drop the connection: after half the body, or before any answer.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	svc.hook.Store(&hook)

	got, err := os.ReadFile(h.path("files", res.UUID))
	require.ErrorIs(t, err, syscall.EIO, "read %d of %d bytes", len(got), len(data))
	// stat never gives the cut size: the server still drops every answer,
	// so asking it for the size fails too (no size is recorded that a
	// download has not confirmed).
	_, err = os.Stat(h.path("files", res.UUID))
	require.ErrorIs(t, err, syscall.EIO)
}
