//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatusOfLiveMount: chatfs status reads a live mount: its uploads
// (here one waiting that will not upload soon, and one failed) and its
// cache use.
func TestStatusOfLiveMount(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "1h", "--max-size", "100000")
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

// TestStatusSaysDiskFullAndCutFiles: with the state on a full disk, chatfs
// status says so, and lists the file cut by it as failed with the reason.
func TestStatusSaysDiskFullAndCutFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	disk := t.TempDir()
	require.NoError(t, unix.Mount("tmpfs", disk, "tmpfs", 0, "size=100m,mode=0700"))
	t.Cleanup(func() { _ = unix.Unmount(disk, unix.MNT_DETACH) })
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", filepath.Join(disk, "state"), "--settle", "1h", "--max-size", "200000000")
	err := os.WriteFile(filepath.Join(mnt, demoApp, "upload", "big.bin"), make([]byte, 60<<20), 0o600)
	require.ErrorIs(t, err, unix.ENOSPC)

	code, stdout, stderr := runCmd("status", mnt)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, demoApp+": 0 waiting, 0 uploading, 1 failed")
	assert.Contains(t, stdout, "failed: big.bin: the disk was full while it was written")
	assert.Contains(t, stdout, "disk full")
}
