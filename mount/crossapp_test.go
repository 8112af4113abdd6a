//go:build linux

package mount_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// A rename from one app's upload/ to another's fails with EXDEV (mv then
// copies) and leaves the source app's queue alone: the new name is the
// other app's, so a failed file of that name in the source app is not
// queued again.
func TestRenameAcrossAppsLeavesQueuesAlone(t *testing.T) {
	svc := newService(t, emulator.Options{MaxSize: 100})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) {
		o.Apps = append(o.Apps, mount.App{
			App:    config.App{Name: "other", Host: svc.url, AppID: "other", MaxSize: a.MaxSize},
			Tokens: remote.NewStaticToken(svc.emu.Token()),
		})
	})
	var posts atomic.Int64
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		return false
	}
	svc.hook.Store(&hook)

	// Larger than the server's limit: it fails for good (413).
	require.NoError(t, os.WriteFile(h.path("upload", "b.bin"), bytes.Repeat([]byte("x"), 1000), 0o644))
	eventually(t, 10*time.Second, "the upload to fail", func() bool {
		v, _ := getxattrErr(h.path("upload", "b.bin"), "user.chatfs.state")
		return v == "failed"
	})
	before := posts.Load()

	require.NoError(t, os.WriteFile(h.path("upload", ".a"), []byte("x"), 0o644))
	err := os.Rename(h.path("upload", ".a"), filepath.Join(h.mnt, "other", "upload", "b.bin"))
	assert.ErrorIs(t, err, syscall.EXDEV)
	time.Sleep(time.Second) // ten settle delays
	assert.Equal(t, before, posts.Load(), "nothing uploaded again")
	assert.Equal(t, "failed", getxattr(t, h.path("upload", "b.bin"), "user.chatfs.state"))
}
