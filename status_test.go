package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatfs/chatfs/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatusOfLiveMount: chatfs status reads a live mount: its uploads
// (here one waiting that will not upload soon, and one failed) and its
// cache use.
func TestStatusOfLiveMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipFUSE(t, "/dev/fuse is missing")
	}
	fusermount, err := exec.LookPath("fusermount3")
	if err != nil {
		skipFUSE(t, "fusermount3 is missing")
	}
	state, mnt := t.TempDir(), t.TempDir()
	var out, errb testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"mount", "--state", state, "--settle", "1h", "--max-size", "100000", mnt}, &out, &errb)
	}()
	t.Cleanup(func() {
		_ = exec.Command(fusermount, "-u", "-z", mnt).Run()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
		}
	})
	waitFor(t, 15*time.Second, "the mount", func() bool {
		_, err := os.Stat(filepath.Join(mnt, demoApp, "upload"))
		return err == nil
	})
	require.NoError(t, os.WriteFile(filepath.Join(mnt, demoApp, "upload", "later.txt"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(mnt, demoApp, "upload", ".tmp"), []byte("x"), 0o644))

	code, stdout, stderr := runCmd("status", mnt)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, demoApp+": 1 waiting, 0 uploading, 0 failed")
	assert.Contains(t, stdout, "download cache: 0 bytes in 0 files")

	code, _, stderr = runCmd("status", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is not a live chatfs mount")
}

// skipFUSE skips a test that needs FUSE, loudly, unless CHATFS_REQUIRE_FUSE
// is set (CI), where it fails instead.
func skipFUSE(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CHATFS_REQUIRE_FUSE") != "" {
		t.Fatalf("FUSE is required (CHATFS_REQUIRE_FUSE is set) but unusable: %s", reason)
	}
	t.Skipf("SKIPPING FUSE TEST: %s", reason)
}
