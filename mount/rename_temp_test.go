//go:build linux

package mount_test

import (
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestRenameQueuedFileToTempNameIsNotUploaded: a file waiting in the queue
// (its upload failing for now) renamed to a temporary name, or moved into
// a hidden folder, is never uploaded: temporary names never are.
func TestRenameQueuedFileToTempNameIsNotUploaded(t *testing.T) {
	svc := newService(t, emulator.Options{})
	var refuse atomic.Bool
	refuse.Store(true)
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method == http.MethodPost && refuse.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	svc.hook.Store(&hook)
	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) { o.UploadBackoff = 100 * time.Millisecond })
	require.NoError(t, os.WriteFile(h.path("upload", "held.txt"), []byte("held"), 0o644))
	require.NoError(t, os.MkdirAll(h.path("upload", "dir"), 0o755))
	require.NoError(t, os.WriteFile(h.path("upload", "dir", "inner.txt"), []byte("inner"), 0o644))
	for _, p := range []string{"held.txt", "dir/inner.txt"} {
		eventually(t, 5*time.Second, "a failed attempt of "+p, func() bool {
			v, _ := getxattrErr(h.path("upload", p), "user.chatfs.error")
			return v != ""
		})
	}
	require.NoError(t, os.Rename(h.path("upload", "held.txt"), h.path("upload", "held.txt~")))
	require.NoError(t, os.Rename(h.path("upload", "dir"), h.path("upload", ".dir")))
	refuse.Store(false)
	require.NoError(t, os.WriteFile(h.path("upload", "control.txt"), []byte("control"), 0o644))
	h.waitUploaded("control.txt")
	time.Sleep(500 * time.Millisecond) // several retry backoffs
	assert.Equal(t, int64(1), svc.emu.Stats().Uploads, "only control.txt")
	assert.Equal(t, []string{"control.txt"}, readdirnames(t, h.path("by-name")))
	for p, want := range map[string]string{"held.txt~": "held", ".dir/inner.txt": "inner"} {
		got, err := os.ReadFile(h.path("upload", p))
		require.NoError(t, err, p)
		assert.Equal(t, want, string(got))
	}

	// Renamed back, they upload.
	require.NoError(t, os.Rename(h.path("upload", "held.txt~"), h.path("upload", "held.txt")))
	h.waitUploaded("held.txt")
}
