//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envRunMain makes the test binary run the CLI instead of the tests, so
// that mount.sh can start it as bin/chatfs without a build.
const envRunMain = "CHATFS_TEST_RUN_MAIN"

// envForeignMount makes the test binary mount an empty FUSE file system
// that is not chatfs at the path it names, and serve it until killed.
const envForeignMount = "CHATFS_TEST_FOREIGN_MOUNT"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) != "" {
		main()
	}
	if mnt := os.Getenv(envForeignMount); mnt != "" {
		server, err := gofs.Mount(mnt, &gofs.Inode{}, &gofs.Options{MountOptions: fuse.MountOptions{Name: "other"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("mounted") // go-fuse's own first request to it is answered
		server.Wait()
		os.Exit(0)
	}
	// The mounts of these tests fill a thumbnail cache: not the user's.
	cache, err := os.MkdirTemp("", "chatfs-test-xdg-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	os.Exit(code)
}

// mountScript is mount.sh in a directory of its own, next to a bin/chatfs
// that is this test binary: no .go files or go.mod there, so nothing is
// rebuilt. sh runs it with a HOME of its own (the logs go there).
type mountScript struct {
	t    *testing.T
	here string
	home string
}

func newMountScript(t *testing.T) *mountScript {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipFUSE(t, "/dev/fuse is missing")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil && os.Geteuid() != 0 {
		skipFUSE(t, "not root and fusermount3 is missing")
	}
	here := t.TempDir()
	script, err := os.ReadFile("mount.sh")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(here, "mount.sh"), script, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(here, "bin"), 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(self, filepath.Join(here, "bin", "chatfs")))
	return &mountScript{t: t, here: here, home: t.TempDir()}
}

func (s *mountScript) sh(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(s.here, "mount.sh")}, args...)...)
	cmd.Env = append(os.Environ(), envRunMain+"=1", "HOME="+s.home, "XDG_STATE_HOME=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mount runs mount.sh with args, which must mount mnt, and returns its
// output and chatfs's pid; the mount is detached at cleanup.
func (s *mountScript) mount(mnt string, args ...string) (string, int) {
	t := s.t
	t.Helper()
	out, err := s.sh(args...)
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	require.NoError(t, err, out)
	assert.Contains(t, out, "chatfs is mounted on "+mnt)
	m := regexp.MustCompile(`\(pid (\d+),`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	pid, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(mnt, demoApp, "upload")) // live as soon as mount.sh returns
	require.NoError(t, err)
	return out, pid
}

// log is the path of mount.sh's log for mnt.
func (s *mountScript) log(mnt string) string {
	return filepath.Join(s.home, ".local", "state", "chatfs", "mount-"+strings.ReplaceAll(mnt, "/", "_")+".log")
}

// waitGone waits for the process pid, mount.sh's child (reparented), to
// be gone or a zombie.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, 10*time.Second, "process "+strconv.Itoa(pid)+" to exit", func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
}

// TestMountScript: ./mount.sh MOUNTPOINT mounts in the background, returns
// once the mount is live and prints how to unmount; ./mount.sh -u
// MOUNTPOINT unmounts, and chatfs then exits.
func TestMountScript(t *testing.T) {
	s := newMountScript(t)
	state := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "mnt") // mount.sh makes it
	out, pid := s.mount(mnt, mnt, "--state", state)
	assert.Contains(t, out, "Unmount:  "+filepath.Join(s.here, "mount.sh")+" -u "+mnt)

	out, err := s.sh("-u", mnt)
	require.NoError(t, err, out)
	assert.Contains(t, out, "unmounted "+mnt)
	mounts, err := os.ReadFile("/proc/mounts")
	require.NoError(t, err)
	assert.NotContains(t, string(mounts), " "+mnt+" ")
	waitGone(t, pid)

	_, err = s.sh("-u")
	assert.Error(t, err, "usage")
}

// mount.sh takes chatfs's flags before or after the mount point, boolean
// or with a value, as "--flag value" or "--flag=value"; -h prints its
// usage and does nothing else.
func TestMountScriptFlagsAnywhere(t *testing.T) {
	s := newMountScript(t)
	for _, h := range []string{"-h", "--help"} {
		out, err := s.sh(h)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Usage: mount.sh MOUNTPOINT")
		assert.Contains(t, out, "Flags go before or after MOUNTPOINT")
		assert.NotContains(t, out, "building")
	}
	out, err := s.sh()
	assert.Error(t, err)
	assert.Contains(t, out, "Usage: mount.sh")

	// Flags first: once "mkdir --debug".
	mnt := filepath.Join(t.TempDir(), "mnt")
	s.mount(mnt, "--debug", "--state", t.TempDir(), "--settle=2s", mnt)
	_, err = os.Stat("--debug")
	assert.ErrorIs(t, err, os.ErrNotExist)
	log, err := os.ReadFile(s.log(mnt))
	require.NoError(t, err)
	assert.Contains(t, string(log), "level=DEBUG", "--debug reached chatfs")
	out, err = s.sh("-u", mnt)
	require.NoError(t, err, out)

	// Flags on both sides.
	mnt2 := filepath.Join(t.TempDir(), "mnt")
	s.mount(mnt2, "--allow-other=false", mnt2, "--debug", "--state", t.TempDir())

	// Two mount points, or a value missing: refused, nothing made.
	other := filepath.Join(t.TempDir(), "other")
	out, err = s.sh(other, "--state", t.TempDir(), filepath.Join(t.TempDir(), "third"))
	assert.Error(t, err)
	assert.Contains(t, out, "more than one mount point")
	out, err = s.sh(other, "--state")
	assert.Error(t, err)
	assert.Contains(t, out, "--state needs a value")
	_, err = os.Stat(other)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// A mount point that mount.sh made is removed when the mount fails; one
// that existed is left. A non-empty one gets a warning and is mounted.
func TestMountScriptCleansUpAfterItself(t *testing.T) {
	s := newMountScript(t)
	made := filepath.Join(t.TempDir(), "new")
	out, err := s.sh(made, "--state", t.TempDir(), "--thumbnail-size", "big")
	assert.Error(t, err)
	assert.Contains(t, out, "thumbnail size")
	_, err = os.Stat(made)
	assert.ErrorIs(t, err, os.ErrNotExist, "the mount point mount.sh made is gone again")

	existing := t.TempDir()
	_, err = s.sh(existing, "--state", t.TempDir(), "--thumbnail-size", "big")
	assert.Error(t, err)
	assert.DirExists(t, existing)

	full := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(full, "note.txt"), nil, 0o600))
	out, _ = s.mount(full, full, "--state", t.TempDir())
	assert.Contains(t, out, "warning: "+full+" is not empty")
}

// A mount point left dead by a killed chatfs ("Transport endpoint is not
// connected") is unmounted and mounted again, and the dead mount's log is
// kept; a dead FUSE mount of another program is left alone, with the
// command that unmounts it.
func TestMountScriptOnDeadMount(t *testing.T) {
	s := newMountScript(t)
	state := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "mnt")
	_, pid := s.mount(mnt, mnt, "--state", state)
	// Killed once it has said it is mounted, past go-fuse's own first
	// request to the mount (see the foreign mount below).
	waitFor(t, 10*time.Second, "chatfs to say it is mounted", func() bool {
		log, _ := os.ReadFile(s.log(mnt))
		return strings.Contains(string(log), "chatfs mounted on")
	})
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitGone(t, pid)
	waitFor(t, 10*time.Second, "a dead mount", func() bool {
		_, err := os.ReadDir(mnt)
		return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
	})

	out, _ := s.mount(mnt, mnt, "--state", state)
	assert.Contains(t, out, mnt+" is a dead chatfs mount")
	assert.Equal(t, 1, fuseMountsAt(t, mnt), "the dead mount is gone, one live one in its place")
	prev, err := os.ReadFile(s.log(mnt) + ".1")
	require.NoError(t, err, "the dead mount's log is kept")
	assert.Contains(t, string(prev), "chatfs mounted on "+mnt)
	out, err = s.sh("-u", mnt)
	require.NoError(t, err, out)

	// Another program's dead mount.
	foreign := t.TempDir()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envForeignMount+"="+foreign)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = syscall.Unmount(foreign, syscall.MNT_DETACH) })
	// Killed only once it no longer asks its own mount anything: a
	// server killed with its own request in flight never exits.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "mounted\n", line)
	require.Equal(t, 1, fuseMountsAt(t, foreign))
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	out, err = s.sh(foreign, "--state", t.TempDir())
	assert.Error(t, err)
	assert.Contains(t, out, "is a dead FUSE mount")
	assert.Contains(t, out, "fuse.other")
	assert.Contains(t, out, "unmount it with: ")
	assert.Equal(t, 1, fuseMountsAt(t, foreign), "not chatfs's: left alone")
}
