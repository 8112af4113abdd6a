package main

import (
	"os"
	"path/filepath"
	"testing"

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
