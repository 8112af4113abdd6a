package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// TestWaitPrintsEachLanding: `cp ... && chatfs wait MNT` waits for every
// file queued and prints "PATH UUID" for each, exit 0; the uuids are the
// ones the files got.
func TestWaitPrintsEachLanding(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "100ms")
	upload := filepath.Join(mnt, demoApp, "upload")
	require.NoError(t, os.MkdirAll(filepath.Join(upload, "sub"), 0o755))
	names := []string{"a.txt", "b.txt", "sub/c.txt"}
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(upload, n), []byte("bytes of "+n), 0o644))
	}

	code, stdout, stderr := runCmd("wait", mnt, "--timeout", "30s")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, stdout)
	for i, n := range names {
		path, uuid, ok := strings.Cut(lines[i], " ")
		require.True(t, ok, lines[i])
		assert.Equal(t, filepath.Join(upload, n), path)
		assert.True(t, remote.ValidUUID(uuid), uuid)
		_, err := os.Stat(filepath.Join(mnt, demoApp, "files", uuid))
		assert.NoError(t, err, "the uuid printed names the uploaded file")
	}

	// Named after landing: it is reported from the recent landings.
	code, stdout, stderr = runCmd("wait", mnt, filepath.Join(upload, "a.txt"))
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, lines[0]+"\n", stdout)
}

// TestWaitExitCodes: 1 with the reason when a file failed or is not
// there, 2 on timeout with what is still waiting.
func TestWaitExitCodes(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "1h", "--max-size", "100")
	upload := filepath.Join(mnt, demoApp, "upload")
	require.Error(t, os.WriteFile(filepath.Join(upload, "big.bin"), make([]byte, 200), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(upload, "later.txt"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(upload, ".hidden"), []byte("x"), 0o644))

	code, _, stderr := runCmd("wait", mnt, filepath.Join(upload, "big.bin"))
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "big.bin: failed: larger than this app's limit of 100 bytes")

	code, _, stderr = runCmd("wait", mnt, filepath.Join(upload, "nothing.txt"), filepath.Join(upload, ".hidden"))
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "nothing.txt: failed: not in upload/")
	assert.Contains(t, stderr, ".hidden: failed: not uploaded: hidden name")

	code, _, stderr = runCmd("wait", "--timeout", "300ms", mnt, filepath.Join(upload, "later.txt"))
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "later.txt: still waiting")
	assert.Contains(t, stderr, "timed out: 1 of 1 files not landed")

	code, _, stderr = runCmd("wait", mnt, filepath.Join(mnt, demoApp, "files"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is not in an upload/ or send/ folder")

	code, _, _ = runCmd("wait")
	assert.Equal(t, 2, code)
}
