//go:build linux

package mount_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// rsync -aX and cp --preserve=all into upload/ succeed: a staged file
// keeps its user xattrs (listed and read back beside chatfs's own), which
// stay local; chatfs's own cannot be set, nor other namespaces.
func TestUserXattrsOnStagedFiles(t *testing.T) {
	src := t.TempDir()
	file := filepath.Join(src, "album", "a.txt")
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o700))
	require.NoError(t, os.WriteFile(file, []byte("hello"), 0o600))
	if err := unix.Setxattr(file, "user.origin", []byte("camera"), 0); err != nil {
		t.Skipf("no user xattrs on %s: %v", src, err)
	}
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { o.SettleDelay = time.Hour })

	rsync, err := exec.LookPath("rsync")
	if err != nil {
		if os.Getenv("CHATFS_REQUIRE_FUSE") != "" {
			t.Fatal("rsync is missing (CI installs it)")
		}
		t.Skip("rsync is missing")
	}
	out, err := exec.Command(rsync, "-aX", filepath.Join(src, "album"), h.path("upload")+"/").CombinedOutput()
	require.NoError(t, err, "rsync -aX: %s", out)
	out, err = exec.Command("cp", "--preserve=all", file, h.path("upload", "b.txt")).CombinedOutput()
	require.NoError(t, err, "cp --preserve=all: %s", out)

	for _, p := range []string{h.path("upload", "album", "a.txt"), h.path("upload", "b.txt")} {
		buf := make([]byte, 64)
		n, err := unix.Getxattr(p, "user.origin", buf)
		require.NoError(t, err, p)
		assert.Equal(t, "camera", string(buf[:n]), p)
		n, err = unix.Listxattr(p, buf)
		require.NoError(t, err)
		names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
		assert.Contains(t, names, "user.origin", p)
		assert.Contains(t, names, "user.chatfs.state", p)
	}
	p := h.path("upload", "b.txt")
	require.NoError(t, unix.Removexattr(p, "user.origin"))
	_, err = unix.Getxattr(p, "user.origin", make([]byte, 64))
	assert.ErrorIs(t, err, unix.ENODATA)
	assert.ErrorIs(t, unix.Setxattr(p, "user.chatfs.name", []byte("x"), 0), unix.EPERM)
	assert.ErrorIs(t, unix.Setxattr(p, "trusted.x", []byte("x"), 0), unix.ENOTSUP)
	assert.ErrorIs(t, unix.Setxattr(h.path("upload"), "user.x", []byte("x"), 0), unix.ENOTSUP, "upload/ itself keeps none")
}
