//go:build linux

package mount_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestExpiresFollowsTheAppsRetention: user.chatfs.expires is the upload
// time plus the app's retention, not a fixed 7 days.
func TestExpiresFollowsTheAppsRetention(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(_ *mount.Options, a *config.App) { a.Retention = 30 * time.Hour })
	require.NoError(t, os.WriteFile(h.path("upload", "r.txt"), []byte("kept 30 hours"), 0o644))
	p := h.path("files", h.waitUploaded("r.txt"))
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(p, &st))
	expires, err := time.Parse(time.RFC3339, getxattr(t, p, "user.chatfs.expires"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Unix(st.Mtim.Unix()).Add(30*time.Hour), expires, time.Second)
}
