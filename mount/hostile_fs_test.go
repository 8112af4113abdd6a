//go:build linux

package mount_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote/emulator"
)

// TestHostileFUSE is a table of hostile or odd operations across the FUSE
// surface. Each gets a clear errno, and nothing is lost: the uploaded file
// still reads back, the queued file is still there.
func TestHostileFUSE(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.WriteFile(h.path("upload", "kept.txt"), []byte("kept"), 0o644))
	uuid := h.waitUploaded("kept.txt")
	require.NoError(t, os.WriteFile(h.path("upload", ".staged"), []byte("staged"), 0o644))
	file := h.path("files", uuid)
	huge := strings.Repeat("v", 60<<10)
	before := svc.requests.Load()

	cases := []struct {
		name string
		op   func() error
		want syscall.Errno
	}{
		{"write into files/", func() error { return os.WriteFile(h.path("files", "x"), []byte("x"), 0o644) }, syscall.EROFS},
		{"open files/ O_RDWR", func() error { _, err := os.OpenFile(file, os.O_RDWR, 0); return err }, syscall.EROFS},
		{"open files/ O_APPEND", func() error { _, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0); return err }, syscall.EROFS},
		{"truncate files/", func() error { return os.Truncate(file, 0) }, syscall.EROFS},
		{"chmod files/", func() error { return os.Chmod(file, 0o777) }, syscall.EROFS},
		{"utimes files/", func() error { return syscall.UtimesNano(file, make([]syscall.Timespec, 2)) }, syscall.EROFS},
		{"mkdir files/", func() error { return os.Mkdir(h.path("files", "d"), 0o755) }, syscall.EROFS},
		{"rename within files/", func() error { return os.Rename(file, h.path("files", "y")) }, syscall.EROFS},
		{"rm a .thumb", func() error { return os.Remove(h.path("files", uuid+".thumb")) }, syscall.ENOENT},
		{"setxattr files/", func() error { return syscall.Setxattr(file, "user.chatfs.name", []byte("x"), 0) }, syscall.EROFS},
		{"removexattr files/", func() error { return syscall.Removexattr(file, "user.chatfs.uuid") }, syscall.EROFS},
		{"getxattr unknown", func() error { _, err := syscall.Getxattr(file, "user.nope", make([]byte, 10)); return err }, syscall.ENODATA},
		{"getxattr security.selinux", func() error { _, err := syscall.Getxattr(file, "security.selinux", make([]byte, 64)); return err }, syscall.ENOTSUP},
		{"getxattr posix acl", func() error {
			_, err := syscall.Getxattr(file, "system.posix_acl_access", make([]byte, 64))
			return err
		}, syscall.ENOTSUP},
		{"getxattr too small", func() error { _, err := syscall.Getxattr(file, "user.chatfs.uuid", make([]byte, 3)); return err }, syscall.ERANGE},
		{"create in by-name/", func() error { return os.WriteFile(h.path("by-name", "z"), nil, 0o644) }, syscall.EROFS},
		{"symlink in by-name/", func() error { return os.Symlink("../files/"+uuid, h.path("by-name", "s")) }, syscall.EROFS},
		{"rename in by-name/", func() error { return os.Rename(h.path("by-name", "kept.txt"), h.path("by-name", "k2")) }, syscall.EROFS},
		{"create in the root", func() error { return os.WriteFile(filepath.Join(h.mnt, "x"), nil, 0o644) }, syscall.EROFS},
		{"mkdir in an app", func() error { return os.Mkdir(h.path("new"), 0o755) }, syscall.EROFS},
		{"rmdir files/", func() error { return os.Remove(h.path("files")) }, syscall.EROFS},
		{"traversal name in files/", func() error { _, err := os.Stat(h.path("files", "..%2f..%2fetc%2fpasswd")); return err }, syscall.ENOENT},
		{"uppercase uuid", func() error { _, err := os.Stat(h.path("files", strings.ToUpper(uuid))); return err }, syscall.ENOENT},
		{"double .thumb", func() error { _, err := os.Stat(h.path("files", uuid+".thumb.thumb")); return err }, syscall.ENOENT},
		{"hard link in upload/", func() error { return os.Link(h.path("upload", ".staged"), h.path("upload", "l")) }, syscall.EPERM},
		{"symlink in upload/", func() error { return os.Symlink("/etc/passwd", h.path("upload", "s")) }, syscall.EPERM},
		{"fifo in upload/", func() error { return syscall.Mkfifo(h.path("upload", "f"), 0o644) }, syscall.EPERM},
		{"rename upload/ to files/", func() error { return os.Rename(h.path("upload", ".staged"), h.path("files", "x")) }, syscall.EXDEV},
		{"set user.chatfs.state", func() error {
			return syscall.Setxattr(h.path("upload", ".staged"), "user.chatfs.state", []byte("failed"), 0)
		}, syscall.EPERM},
		{"huge xattr on upload/", func() error { return syscall.Setxattr(h.path("upload", ".staged"), "user.big", []byte(huge), 0) }, syscall.E2BIG},
		{"name of 256 bytes", func() error { return os.WriteFile(h.path("upload", strings.Repeat("a", 256)), nil, 0o644) }, syscall.ENAMETOOLONG},
		{"truncate past the limit", func() error { return os.Truncate(h.path("upload", ".staged"), 10<<20+1) }, syscall.EFBIG},
		{"rename a dir into itself", func() error {
			require.NoError(t, os.MkdirAll(h.path("upload", ".d", "e"), 0o700))
			return os.Rename(h.path("upload", ".d"), h.path("upload", ".d", "e", "f"))
		}, syscall.EINVAL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.op()
			assert.ErrorIs(t, err, c.want)
		})
	}
	assert.Equal(t, before, svc.requests.Load(), "none of these reached the server")
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "kept", string(got))
	got, err = os.ReadFile(h.path("upload", ".staged"))
	require.NoError(t, err)
	assert.Equal(t, "staged", string(got))
}
