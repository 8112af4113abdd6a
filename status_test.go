//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/internal/control"
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
	assert.Contains(t, stdout, demoApp+": 1 waiting, 0 uploading, 0 failed, 1 ignored\n")
	assert.Contains(t, stdout, "  waiting: later.txt (1 bytes)\n")
	assert.Contains(t, stdout, "  ignored: .tmp: hidden name")
	assert.Contains(t, stdout, "download cache: 0 bytes in 0 files (limit 1.0 GiB)")

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
	require.Equal(t, 1, code, stderr)
	assert.Contains(t, stdout, demoApp+": 0 waiting, 0 uploading, 1 failed")
	assert.Contains(t, stdout, "failed: big.bin: the disk was full while it was written")
	assert.Contains(t, stdout, "disk full")
}

// TestStatusShowsHistoryProgress: chatfs status says how far the import of
// the message history has come, or that it is off.
func TestStatusShowsHistoryProgress(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--history", "3h", "--history-interval", "1h")
	code, stdout, stderr := runCmd("status", mnt)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `(?m)^  history: \d of 3 hours done, \d waiting, \d unavailable, \d failed, \d to do; \d+ attachments`, stdout)

	off := t.TempDir()
	startCLIMount(t, off, "--state", t.TempDir(), "--history", "0")
	code, stdout, stderr = runCmd("status", off)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "  history: off")

	code, stdout, stderr = runCmd("status", "--json", off)
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, stdout, `"history"`)
	code, stdout, stderr = runCmd("status", "--json", mnt)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"history": {`)
	assert.Contains(t, stdout, `"hours": 3,`)
}

// TestStatusJSONAndExitCode: status --json gives each upload's state, size
// and reason, the ignored entries with why, and the cache; it exits 1
// while an upload has failed and 0 once the failed file is gone.
func TestStatusJSONAndExitCode(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "1h", "--max-size", "100")
	upload := filepath.Join(mnt, demoApp, "upload")
	require.NoError(t, os.WriteFile(filepath.Join(upload, "later.txt"), []byte("hello"), 0o644))
	require.Error(t, os.WriteFile(filepath.Join(upload, "big.bin"), make([]byte, 200), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(upload, ".hidden"), []byte("x"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(upload, "empty"), 0o755))

	code, stdout, stderr := runCmd("status", "--json", mnt)
	require.Equal(t, 1, code, stderr)
	var st control.Status
	require.NoError(t, json.Unmarshal([]byte(stdout), &st), stdout)
	assert.Equal(t, control.SchemaVersion, st.Version)
	require.Len(t, st.Apps, 1)
	a := st.Apps[0]
	assert.Equal(t, demoApp, a.Name)
	assert.Equal(t, "ok", a.Disk)
	require.Len(t, a.Uploads, 2, "%+v", a.Uploads)
	byPath := map[string]control.Upload{}
	for _, u := range a.Uploads {
		byPath[u.Path] = u
	}
	assert.Equal(t, control.Waiting, byPath["later.txt"].State)
	assert.EqualValues(t, 5, byPath["later.txt"].Size)
	assert.Equal(t, control.Failed, byPath["big.bin"].State)
	assert.Contains(t, byPath["big.bin"].Error, "limit of 100 bytes")
	assert.ElementsMatch(t, []string{".hidden", "empty/"}, []string{a.Ignored[0].Path, a.Ignored[1].Path})
	assert.EqualValues(t, 1<<30, st.Cache.Limit)
	assert.NotContains(t, stdout, "share", "nothing secret in the status")

	require.NoError(t, os.Remove(filepath.Join(upload, "big.bin")))
	code, _, stderr = runCmd("status", mnt)
	assert.Equal(t, 0, code, "nothing failed now: %s", stderr)
}
