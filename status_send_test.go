package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatusListsSends: chatfs status lists what send/ holds, by state and
// file by file.
func TestStatusListsSends(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "1h", "--send-as", "support")
	require.NoError(t, os.WriteFile(filepath.Join(mnt, demoApp, "send", "users", "alice", "report.pdf"), []byte("%PDF-1.4\n"), 0o644))

	code, stdout, stderr := runCmd("status", mnt)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, demoApp+" send/: 1 waiting, 0 uploading, 0 sending, 0 failed\n")
	assert.Contains(t, stdout, "  waiting: send/users/alice/report.pdf\n")
}

// TestSendAsMustBeAUserName: a malformed --send-as is refused at mount,
// saying why.
func TestSendAsMustBeAUserName(t *testing.T) {
	code, _, stderr := runCmd("mount", "--state", t.TempDir(), "--send-as", "no such user!", t.TempDir())
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "not a well-formed user name")
}
