package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/internal/control"
)

// TestHelperMountArgs: mount(8)'s command line becomes chatfs mount's:
// a config file as SOURCE, options as flags, generic options dropped.
func TestHelperMountArgs(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "apps.toml")
	require.NoError(t, os.WriteFile(cfg, nil, 0o600))
	for _, tc := range []struct {
		args []string
		want []string
		log  string
		fake bool
	}{
		{[]string{cfg, "/mnt", "-o", "rw,state=/var/lib/chatfs,allow_other,_netdev,nofail,noauto,x-systemd.automount,drain_timeout=1m"},
			[]string{"--config=" + cfg, "--state=/var/lib/chatfs", "--allow-other", "--drain-timeout=1m", "/mnt"}, "", false},
		{[]string{"chatfs", "/mnt", "-n", "-o", "config=/etc/c.toml,log=/tmp/l", "-f"},
			[]string{"--config=/etc/c.toml", "/mnt"}, "/tmp/l", true},
		{[]string{"chatfs", "/mnt"}, []string{"/mnt"}, "", false},
		{[]string{"chatfs", "m", "-o", "state=s,token_file=t,host=http://x"}, []string{"--state=" + abs("s"), "--token-file=" + abs("t"), "--host=http://x", abs("m")}, "", false},
		{[]string{"chatfs", "/mnt", "-odebug,settle=2s"}, []string{"--debug", "--settle=2s", "/mnt"}, "", false},
	} {
		got, log, fake, err := helperMountArgs(tc.args)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, got, tc.args)
		assert.Equal(t, tc.log, log)
		assert.Equal(t, tc.fake, fake)
	}
	for _, bad := range [][]string{{"/mnt"}, {"a", "b", "c"}, {"a", "/mnt", "-o", "ro"}, {"a", "/mnt", "-x"}, {"a", "/mnt", "-o"}} {
		_, _, _, err := helperMountArgs(bad)
		assert.Error(t, err, bad)
	}
	assert.True(t, helperArgs([]string{"chatfs", "/mnt", "-o", "rw"}))
	assert.False(t, helperArgs([]string{"status", "/mnt"}))

	// A flag chatfs mount does not know fails before anything starts.
	code, _, stderr := captureHelper(t, "chatfs", t.TempDir(), "-o", "no_such_flag=1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no-such-flag")
}

func abs(p string) string { a, _ := filepath.Abs(p); return a }

func captureHelper(t *testing.T, args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := runHelper(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestMountTypeFuseChatfs: as root, `mount -t fuse.chatfs` (through
// /sbin/mount.fuse.chatfs) and an fstab line mount for real: mount returns once the mount is
// live, uploads work, and umount stops the background chatfs.
func TestMountTypeFuseChatfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mount -t needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipFUSE(t, "/dev/fuse is missing")
	}
	const link = "/sbin/mount.fuse.chatfs"
	if _, err := os.Lstat(link); err == nil {
		t.Skipf("%s exists already; not replacing it", link)
	}
	bin := filepath.Join(t.TempDir(), "chatfs")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	mountAndUse := func(t *testing.T, args ...string) {
		state, mnt := t.TempDir(), t.TempDir()
		for i, a := range args {
			args[i] = strings.NewReplacer("STATE", state, "MNT", mnt).Replace(a)
		}
		if args[0] == "--fstab" {
			fstab := filepath.Join(t.TempDir(), "fstab")
			require.NoError(t, os.WriteFile(fstab, []byte(args[1]+"\n"), 0o644))
			args = []string{"--fstab", fstab, mnt}
		}
		cmd := exec.Command("mount", args...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
		_, err = os.Stat(filepath.Join(mnt, demoApp, "upload"))
		require.NoError(t, err, "the mount is live when mount returns")
		mounts, _ := os.ReadFile("/proc/self/mounts")
		assert.Contains(t, string(mounts), " "+mnt+" fuse.chatfs ")

		require.NoError(t, os.WriteFile(filepath.Join(mnt, demoApp, "upload", "a.txt"), []byte("hello"), 0o644))
		code, stdout, stderr := runCmd("wait", mnt, "--timeout", "30s")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "a.txt ")

		_, err = os.Readlink(filepath.Join(mnt, demoApp, "by-name", "a.txt"))
		require.NoError(t, err)
		// The background chatfs ends with the unmount: its control socket goes with it.
		control, err := control.SocketOf(mnt)
		require.NoError(t, err)
		out, err = exec.Command("umount", mnt).CombinedOutput()
		require.NoError(t, err, "%s", out)
		waitFor(t, 30*time.Second, "the background chatfs to stop", func() bool {
			_, err := os.Lstat(control)
			return os.IsNotExist(err)
		})
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(control), "mount.log"))
		assert.Contains(t, string(log), "unmounted")
	}

	require.NoError(t, os.Symlink(bin, link))
	t.Cleanup(func() { _ = os.Remove(link) })
	t.Run("mount -t", func(t *testing.T) {
		mountAndUse(t, "-t", "fuse.chatfs", "chatfs", "MNT", "-o", "state=STATE,settle=100ms,allow_other,_netdev")
	})
	t.Run("fstab", func(t *testing.T) {
		mountAndUse(t, "--fstab", "chatfs MNT fuse.chatfs state=STATE,settle=100ms,noauto,nofail 0 0")
	})
}
