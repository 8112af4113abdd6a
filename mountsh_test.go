//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envRunMain makes the test binary run the CLI instead of the tests, so
// that mount.sh can start it as bin/chatfs without a build.
const envRunMain = "CHATFS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) != "" {
		main()
	}
	os.Exit(m.Run())
}

// TestMountScript: ./mount.sh MOUNTPOINT mounts in the background, returns
// once the mount is live and prints how to unmount; ./mount.sh -u
// MOUNTPOINT unmounts, and chatfs then exits.
func TestMountScript(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipFUSE(t, "/dev/fuse is missing")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil && os.Geteuid() != 0 {
		skipFUSE(t, "not root and fusermount3 is missing")
	}
	// mount.sh next to a bin/chatfs that is this test binary: no .go files
	// or go.mod there, so nothing is rebuilt.
	here := t.TempDir()
	script, err := os.ReadFile("mount.sh")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(here, "mount.sh"), script, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(here, "bin"), 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(self, filepath.Join(here, "bin", "chatfs")))
	home, state := t.TempDir(), t.TempDir()
	mnt := filepath.Join(t.TempDir(), "mnt") // mount.sh makes it
	sh := func(args ...string) (string, error) {
		cmd := exec.Command("bash", append([]string{filepath.Join(here, "mount.sh")}, args...)...)
		cmd.Env = append(os.Environ(), envRunMain+"=1", "HOME="+home, "XDG_STATE_HOME=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := sh(mnt, "--state", state)
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	require.NoError(t, err, out)
	assert.Contains(t, out, "chatfs is mounted on "+mnt)
	assert.Contains(t, out, "Unmount:  "+filepath.Join(here, "mount.sh")+" -u "+mnt)
	m := regexp.MustCompile(`\(pid (\d+),`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	pid, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(mnt, demoApp, "upload")) // live as soon as mount.sh returns
	require.NoError(t, err)

	out, err = sh("-u", mnt)
	require.NoError(t, err, out)
	assert.Contains(t, out, "unmounted "+mnt)
	mounts, err := os.ReadFile("/proc/mounts")
	require.NoError(t, err)
	assert.NotContains(t, string(mounts), " "+mnt+" ")
	waitFor(t, 10*time.Second, "chatfs to exit", func() bool {
		// The process is mount.sh's child, reparented: gone, or a zombie.
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	})

	_, err = sh("-u")
	assert.Error(t, err, "usage")
}
