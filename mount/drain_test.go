//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/internal/control"
	"github.com/chatfs/chatfs/internal/testutil"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestStopDrainsUploadsInFlight: stopping a mount finishes the upload in
// flight (within the drain timeout), starts no new one, and logs how many
// stay queued for the next mount. While the upload is held, the control
// socket shows it uploading with all its bytes sent.
func TestStopDrainsUploadsInFlight(t *testing.T) {
	svc := newService(t, emulator.Options{})
	entered, release := make(chan struct{}, 1), make(chan struct{})
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodPost {
			return false
		}
		// The whole body is read (sent), then the answer waits.
		body, _ := io.ReadAll(r.Body)
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
		return true
	}
	svc.hook.Store(&hook)
	var logs testutil.SyncBuffer
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) {
		o.Uploaders = 1
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	data := bytes.Repeat([]byte("a"), 100000)
	require.NoError(t, os.WriteFile(h.path("upload", "a.bin"), data, 0o644))
	<-entered
	require.NoError(t, os.WriteFile(h.path("upload", "b.txt"), []byte("b"), 0o644))

	c, err := control.Dial(context.Background(), h.mnt)
	require.NoError(t, err)
	defer c.Close()
	var a, b control.Upload
	eventually(t, 10*time.Second, "b.txt queued behind a.bin", func() bool {
		st, err := c.Status(context.Background(), false, nil)
		require.NoError(t, err)
		for _, u := range st.Apps[0].Uploads {
			switch u.Path {
			case "a.bin":
				a = u
			case "b.txt":
				b = u
			}
		}
		return b.State == control.Waiting && b.Size == 1
	})
	assert.Equal(t, control.Uploading, a.State)
	assert.EqualValues(t, len(data), a.Size)
	assert.EqualValues(t, len(data), a.Sent, "the server has read every byte")
	assert.False(t, a.Started.IsZero())

	time.AfterFunc(200*time.Millisecond, func() { close(release) })
	m := h.m
	h.m = nil
	require.NoError(t, m.Close(30*time.Second))

	dirs, err := config.StateDirs(h.state)
	require.NoError(t, err)
	idx, err := index.Open(filepath.Join(dirs.Data, "index"), index.Options{})
	require.NoError(t, err)
	defer idx.Close()
	_, err = idx.LookupName(appID, "a.bin")
	assert.NoError(t, err, "the upload in flight finished")
	u, err := idx.GetUpload(appID, "b.txt")
	require.NoError(t, err)
	assert.Equal(t, index.Waiting, u.State, "no new upload started")
	assert.Contains(t, logs.String(), "finishing the uploads in flight")
	assert.Contains(t, logs.String(), "uploads stay queued for the next mount")
	assert.Contains(t, logs.String(), "queued=1")
}
