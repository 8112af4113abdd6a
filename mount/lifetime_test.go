//go:build linux

package mount_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/internal/testutil"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// setfattr -n user.chatfs.lifetime on files/<uuid> and through a by-name/
// link keeps the file on the service and shows it in user.chatfs.expires.
func TestLifetimeXattr(t *testing.T) {
	svc := newService(t, emulator.Options{LifetimeAPI: true, TTL: 2 * time.Hour})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { a.Retention = 2 * time.Hour })
	require.NoError(t, os.WriteFile(h.path("upload", "keep.txt"), []byte("keep me"), 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", "photo.jpg"), testJPEG(t, 64, 64), 0o644))
	uuid := h.waitUploaded("keep.txt")
	photo := h.waitUploaded("photo.jpg")
	file := h.path("files", uuid)
	const key = "app-id/" + appID

	uploaded, err := time.Parse(time.RFC3339, getxattr(t, file, "user.chatfs.expires"))
	require.NoError(t, err)

	require.NoError(t, unix.Setxattr(file, "user.chatfs.lifetime", []byte("forever"), 0))
	assert.Equal(t, "never", getxattr(t, file, "user.chatfs.expires"))
	exp, err := svc.emu.Expiry(key, uuid)
	require.NoError(t, err)
	assert.True(t, exp.IsZero(), "the service keeps it forever")

	// Through the by-name/ symlink (setfattr follows it).
	link := h.path("by-name", "keep.txt")
	require.NoError(t, unix.Setxattr(link, "user.chatfs.lifetime", []byte("refresh"), 0))
	got, err := time.Parse(time.RFC3339, getxattr(t, link, "user.chatfs.expires"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), got, 5*time.Second, "refresh: the retention from now")
	exp, err = svc.emu.Expiry(key, uuid)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), exp, 5*time.Second)

	require.NoError(t, unix.Setxattr(file, "user.chatfs.lifetime", []byte("default"), 0))
	got, err = time.Parse(time.RFC3339, getxattr(t, file, "user.chatfs.expires"))
	require.NoError(t, err)
	assert.WithinDuration(t, uploaded, got, time.Second, "default: back to upload time + retention")

	// Bad values, thumbnails, other attributes.
	for _, bad := range []string{"", "always", "Forever", "forever\n"} {
		err := unix.Setxattr(file, "user.chatfs.lifetime", []byte(bad), 0)
		assert.ErrorIs(t, err, syscall.EINVAL, "%q", bad)
	}
	assert.ErrorIs(t, unix.Setxattr(h.path("files", photo+".thumb"), "user.chatfs.lifetime", []byte("forever"), 0), syscall.EPERM)
	assert.ErrorIs(t, unix.Setxattr(file, "user.chatfs.name", []byte("x"), 0), syscall.EROFS)
	assert.ErrorIs(t, unix.Setxattr(h.path("files", "00000000-0000-4000-8000-000000000000"), "user.chatfs.lifetime", []byte("forever"), 0),
		syscall.ENOENT)

	// The record survives a remount.
	require.NoError(t, unix.Setxattr(file, "user.chatfs.lifetime", []byte("forever"), 0))
	h.unmount()
	h2 := newHarness(t, svc, h.state)
	assert.Equal(t, "never", getxattr(t, h2.path("files", uuid), "user.chatfs.expires"))
	// Writes are still refused, whatever the owner's write bit says.
	_, err = os.OpenFile(h2.path("files", uuid), os.O_WRONLY, 0)
	assert.ErrorIs(t, err, syscall.EROFS)
}

// An app without the lifetime API (Agora Chat, or not enabled) answers
// EOPNOTSUPP, and says why once in the log.
func TestLifetimeNotSupported(t *testing.T) {
	svc := newService(t, emulator.Options{})
	var logs testutil.SyncBuffer
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	require.NoError(t, os.WriteFile(h.path("upload", "a.txt"), []byte("a"), 0o644))
	uuid := h.waitUploaded("a.txt")
	before := getxattr(t, h.path("files", uuid), "user.chatfs.expires")
	for range 2 {
		err := unix.Setxattr(h.path("by-name", "a.txt"), "user.chatfs.lifetime", []byte("forever"), 0)
		assert.ErrorIs(t, err, syscall.EOPNOTSUPP)
	}
	assert.Equal(t, before, getxattr(t, h.path("files", uuid), "user.chatfs.expires"), "nothing changed")
	assert.Equal(t, 1, strings.Count(logs.String(), "does not offer the lifetime API"), "said once: %s", logs.String())
}

// Another user, even with --allow-other, cannot change the owner's files'
// lifetime: setting a user.* xattr needs write permission.
func TestLifetimeOtherUserRefused(t *testing.T) {
	other := newOtherUser(t)
	svc := newService(t, emulator.Options{LifetimeAPI: true})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { o.AllowOther = true })
	require.NoError(t, os.Chmod(filepath.Dir(h.mnt), 0o755))
	require.NoError(t, os.WriteFile(h.path("upload", "a.txt"), []byte("a"), 0o644))
	uuid := h.waitUploaded("a.txt")
	assert.Equal(t, permissionDenied, other.run(t, "setxattr", h.path("files", uuid), "user.chatfs.lifetime", "forever"))
	exp, err := svc.emu.Expiry("app-id/"+appID, uuid)
	require.NoError(t, err)
	assert.False(t, exp.IsZero())
}
