//go:build linux

package mount_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// envAsOther makes the test binary run one file operation (as another
// user) instead of the tests; see asOther.
const envAsOther = "CHATFS_TEST_AS_OTHER"

// asOther runs one operation on args[0] and prints "ok" (and what it read)
// or the errno's name: read, write, create, unlink, getxattr NAME, listxattr.
func asOther(op string, args []string) int {
	var out string
	var err error
	switch op {
	case "read":
		var b []byte
		b, err = os.ReadFile(args[0])
		out = string(b)
	case "write":
		var f *os.File
		if f, err = os.OpenFile(args[0], os.O_WRONLY, 0); err == nil {
			_, err = io.WriteString(f, "bytes of another user")
			err = errors.Join(err, f.Close())
		}
	case "create":
		var f *os.File
		if f, err = os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
			err = f.Close()
		}
	case "unlink":
		err = os.Remove(args[0])
	case "getxattr":
		out, err = getxattrErr(args[0], args[1])
	case "setxattr":
		err = syscall.Setxattr(args[0], args[1], []byte(args[2]), 0)
	case "listxattr":
		buf := make([]byte, 4096)
		var n int
		n, err = syscall.Listxattr(args[0], buf)
		if err == nil {
			out = strings.ReplaceAll(string(buf[:n]), "\x00", " ")
		}
	default:
		err = fmt.Errorf("unknown op %q", op)
	}
	var en syscall.Errno
	switch {
	case errors.As(err, &en):
		fmt.Print(en.Error())
	case err != nil:
		fmt.Print(err)
	default:
		fmt.Print("ok " + out)
	}
	return 0
}

// otherUser is a local user that is not the mounting one, and a copy of
// the test binary it can run (the build directory is private to root).
type otherUser struct {
	uid, gid int
	bin      string
}

func newOtherUser(t *testing.T) otherUser {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("another user's view needs root to switch users")
	}
	const name = "chatfs-other"
	if err := exec.Command("id", "-u", name).Run(); err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd: %v: %s", err, out)
		}
	}
	id := func(flag string) int {
		out, err := exec.Command("id", flag, name).Output()
		require.NoError(t, err)
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		require.NoError(t, err)
		return n
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	self, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	bin := filepath.Join(dir, "helper")
	require.NoError(t, os.WriteFile(bin, self, 0o755))
	return otherUser{uid: id("-u"), gid: id("-g"), bin: bin}
}

// run performs op as the other user and returns "ok …" or the errno text.
func (u otherUser) run(t *testing.T, op string, args ...string) string {
	t.Helper()
	cmd := exec.Command("setpriv", append([]string{"--reuid=" + strconv.Itoa(u.uid), "--regid=" + strconv.Itoa(u.gid),
		"--clear-groups", u.bin}, args...)...)
	cmd.Env = append(os.Environ(), envAsOther+"="+op)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	return string(out)
}

const permissionDenied = "permission denied"

// TestOtherUsersGetOnlyWhatPermissionsAllow: with --allow-other, another
// user may list the mount and read unrestricted files, and nothing else:
// not the owner's staged files, not upload/ itself, not restricted files
// or their share-secrets, not rm in files/ or by-name/.
func TestOtherUsersGetOnlyWhatPermissionsAllow(t *testing.T) {
	other := newOtherUser(t)
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) {
		o.AllowOther = true
		a.Restrict = true
	})
	require.NoError(t, os.Chmod(filepath.Dir(h.mnt), 0o755))

	// The owner's files: one restricted upload, one staged file that stays
	// (a temporary name), one unrestricted file known by uuid.
	require.NoError(t, os.WriteFile(h.path("upload", "secret.txt"), []byte("restricted bytes"), 0o644))
	restricted := h.waitUploaded("secret.txt")
	secret := getxattr(t, h.path("files", restricted), "user.chatfs.share_secret")
	staged := h.path("upload", ".staged.txt")
	require.NoError(t, os.WriteFile(staged, []byte("the owner's draft"), 0o600))
	res, err := svc.client(t, appID).Upload(t.Context(), remote.UploadRequest{Name: "public.txt", File: strings.NewReader("public bytes"), Size: 12})
	require.NoError(t, err)
	public := h.path("files", res.UUID)
	_, err = os.Stat(public)
	require.NoError(t, err)

	assert.Equal(t, "ok public bytes", other.run(t, "read", public), "unrestricted files are readable by others")
	assert.Equal(t, "ok "+appID+"\n", "ok "+strings.Join(readdirnames(t, h.mnt), " ")+"\n")

	for _, c := range []struct{ what, op, path string }{
		{"read a staged file", "read", staged},
		{"overwrite a staged file", "write", staged},
		{"remove a staged file", "unlink", staged},
		{"create a file in upload/", "create", h.path("upload", "theirs.txt")},
		{"read a restricted file", "read", h.path("files", restricted)},
		{"remove a file", "unlink", h.path("files", res.UUID)},
		{"remove a by-name entry", "unlink", h.path("by-name", "secret.txt")},
		{"create a file in files/", "create", h.path("files", "new")},
	} {
		assert.Equal(t, permissionDenied, other.run(t, c.op, c.path), c.what)
	}
	got := other.run(t, "getxattr", h.path("files", restricted), "user.chatfs.share_secret")
	assert.NotContains(t, got, secret)
	assert.Equal(t, permissionDenied, got, "the share-secret")
	assert.NotContains(t, other.run(t, "listxattr", h.path("files", restricted)), "share_secret")

	// Nothing changed.
	b, err := os.ReadFile(staged)
	require.NoError(t, err)
	assert.Equal(t, "the owner's draft", string(b))
	_, err = os.Stat(h.path("by-name", "secret.txt"))
	assert.NoError(t, err)
	_, err = os.Stat(h.path("upload", "theirs.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestStagedModesAreTheRealOnes: a staged file or folder stats with the
// mode it was made with (group and other bits and set-uid, set-gid and
// sticky dropped, as README says), through create, mknod, mkdir and chmod.
func TestStagedModesAreTheRealOnes(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	mode := func(p string) uint32 {
		var st syscall.Stat_t
		require.NoError(t, syscall.Lstat(p, &st))
		return st.Mode &^ syscall.S_IFMT
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	for _, m := range []uint32{0, 0o400, 0o600, 0o640, 0o755, 0o4755, 0o2700, 0o1700} {
		p := h.path("upload", fmt.Sprintf(".create-%o", m))
		fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_EXCL, m)
		require.NoError(t, err)
		require.NoError(t, syscall.Close(fd))
		assert.Equal(t, m&0o700, mode(p), "create %o", m)

		p = h.path("upload", fmt.Sprintf(".mknod-%o", m))
		require.NoError(t, syscall.Mknod(p, syscall.S_IFREG|m, 0))
		assert.Equal(t, m&0o700, mode(p), "mknod %o", m)

		p = h.path("upload", fmt.Sprintf(".dir-%o", m))
		require.NoError(t, syscall.Mkdir(p, m))
		assert.Equal(t, m&0o700, mode(p), "mkdir %o", m)

		p = h.path("upload", ".chmod")
		require.NoError(t, os.WriteFile(p, nil, 0o600))
		require.NoError(t, syscall.Chmod(p, m))
		assert.Equal(t, m&0o700, mode(p), "chmod %o", m)
	}
}
