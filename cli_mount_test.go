package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatfs/chatfs/internal/testutil"
)

// skipFUSE skips a test that needs FUSE, loudly, unless CHATFS_REQUIRE_FUSE
// is set (CI), where it fails instead.
func skipFUSE(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CHATFS_REQUIRE_FUSE") != "" {
		t.Fatalf("FUSE is required (CHATFS_REQUIRE_FUSE is set) but unusable: %s", reason)
	}
	t.Skipf("SKIPPING FUSE TEST: %s", reason)
}

// cliMount is "chatfs mount" run through run() in the test's process.
type cliMount struct {
	mnt        string
	fusermount string
	done       chan int // run's exit code
	out, errb  testutil.SyncBuffer
}

// startCLIMount runs "chatfs mount ARGS... MNT" and waits until the
// mount is live. Cleanup detaches it and waits (bounded) for run to return.
func startCLIMount(t *testing.T, mnt string, args ...string) *cliMount {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipFUSE(t, "/dev/fuse is missing")
	}
	fusermount, err := exec.LookPath("fusermount3")
	if err != nil {
		skipFUSE(t, "fusermount3 is missing")
	}
	m := &cliMount{mnt: mnt, fusermount: fusermount, done: make(chan int, 1)}
	argv := append(append([]string{"mount"}, args...), mnt)
	go func() { m.done <- run(argv, &m.out, &m.errb) }()
	t.Cleanup(func() {
		_ = exec.Command(fusermount, "-u", "-z", mnt).Run()
		select {
		case code := <-m.done:
			m.done <- code // for a test that waits after its own unmount
		case <-time.After(20 * time.Second):
		}
	})
	waitFor(t, 15*time.Second, "the mount", func() bool {
		_, err := os.Stat(filepath.Join(mnt, demoApp, "upload"))
		return err == nil
	})
	return m
}
