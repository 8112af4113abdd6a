package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/internal/control"
	"github.com/chatfs/chatfs/remote"
)

// TestStatusListsSends: chatfs status lists what send/ holds, by state and
// file by file, from the mount's control socket: in text (names made
// printable) and in --json (apps[].sends), and exits 1 when a send failed.
func TestStatusListsSends(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "1h", "--send-as", "support", "--max-size", "100")
	send := filepath.Join(mnt, demoApp, "send")
	require.NoError(t, os.WriteFile(filepath.Join(send, "users", "alice", "report.pdf"), []byte("%PDF-1.4\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(send, "groups", "66021836783617", "esc\x1b[2J.pdf"), []byte("%PDF-1.4\n"), 0o644))

	code, stdout, stderr := runCmd("status", mnt)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, demoApp+" send/: 2 waiting, 0 uploading, 0 sending, 0 failed\n")
	assert.Contains(t, stdout, "  waiting: send/users/alice/report.pdf (9 bytes)\n")
	assert.Contains(t, stdout, `  waiting: "send/groups/66021836783617/esc\x1b[2J.pdf" (9 bytes)`+"\n")
	assert.NotContains(t, stdout, "\x1b", "no terminal codes from a file name")

	// Too large for the app: failed, with the reason; status exits 1.
	require.Error(t, os.WriteFile(filepath.Join(send, "rooms", "1234", "big.bin"), make([]byte, 200), 0o644))
	code, stdout, stderr = runCmd("status", mnt)
	require.Equal(t, 1, code, stderr)
	assert.Contains(t, stdout, demoApp+" send/: 2 waiting, 0 uploading, 0 sending, 1 failed\n")
	assert.Contains(t, stdout, "  failed: send/rooms/1234/big.bin: larger than this app's limit of 100 bytes")

	code, stdout, stderr = runCmd("status", "--json", mnt)
	require.Equal(t, 1, code, stderr)
	var st control.Status
	require.NoError(t, json.Unmarshal([]byte(stdout), &st), stdout)
	require.Len(t, st.Apps, 1)
	sends := st.Apps[0].Sends
	require.Len(t, sends, 3, stdout)
	assert.Equal(t, control.Send{Path: "groups/66021836783617/esc\x1b[2J.pdf", Kind: "groups", Target: "66021836783617", Size: 9, State: control.Waiting}, sends[0])
	assert.Equal(t, "rooms/1234/big.bin", sends[1].Path)
	assert.Equal(t, "rooms", sends[1].Kind)
	assert.Equal(t, control.Failed, sends[1].State)
	assert.Contains(t, sends[1].Error, "larger than this app's limit")
	assert.Equal(t, control.Send{Path: "users/alice/report.pdf", Kind: "users", Target: "alice", Size: 9, State: control.Waiting}, sends[2])
	assert.Empty(t, st.Apps[0].Uploads, "sends are not uploads")
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &raw))
	app := raw["apps"].([]any)[0].(map[string]any)
	for _, k := range []string{"sends", "sends_landed", "sends_last_seq"} {
		assert.Contains(t, app, k, "the schema's field %s is always there", k)
	}
}

// TestWaitForSends: chatfs wait waits for send/ as well as upload/: by
// default every file queued in either, printing "PATH UUID MSG_ID" for a
// send once its message went (the file is then in chats/ with that
// message id); a send/ path named after it was sent is reported from the
// recent sends; a failed or missing send exits 1 with the reason.
func TestWaitForSends(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "100ms", "--send-as", "support", "--max-size", "100")
	app := filepath.Join(mnt, demoApp)
	sendPath := filepath.Join(app, "send", "users", "alice", "report.pdf")
	uploadPath := filepath.Join(app, "upload", "send", "users", "alice", "report.pdf") // same path under upload/: another file
	require.NoError(t, os.MkdirAll(filepath.Dir(uploadPath), 0o755))
	require.NoError(t, os.WriteFile(sendPath, []byte("%PDF-1.4\nsent\n"), 0o644))
	require.NoError(t, os.WriteFile(uploadPath, []byte("uploaded"), 0o644))

	code, stdout, stderr := runCmd("wait", mnt, "--timeout", "30s")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, stdout)
	var sentLine string
	for _, l := range lines {
		f := strings.Fields(l)
		switch f[0] {
		case uploadPath:
			require.Len(t, f, 2, l)
			assert.True(t, remote.ValidUUID(f[1]), l)
		case sendPath:
			require.Len(t, f, 3, "PATH UUID MSG_ID: %s", l)
			assert.True(t, remote.ValidUUID(f[1]), l)
			got := getxattrStr(t, filepath.Join(app, "chats", "users", "alice", "report.pdf"), "user.chatfs.msg_id")
			assert.Equal(t, got, f[2], "the message id printed is the one recorded")
			sentLine = l
		default:
			t.Fatalf("unexpected line %q", l)
		}
	}
	_, err := os.Stat(sendPath)
	assert.ErrorIs(t, err, os.ErrNotExist, "sent: it left send/")

	// Named after it was sent: from the recent sends.
	code, stdout, stderr = runCmd("wait", mnt, sendPath)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, sentLine+"\n", stdout)

	// Too large: failed, exit 1 with the reason; a file never there too.
	big := filepath.Join(app, "send", "users", "bob", "big.bin")
	require.Error(t, os.WriteFile(big, make([]byte, 200), 0o644))
	code, _, stderr = runCmd("wait", mnt, big, filepath.Join(app, "send", "users", "bob", "none.pdf"))
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "big.bin: failed: larger than this app's limit of 100 bytes")
	assert.Contains(t, stderr, "none.pdf: failed: not in send/ (nor sent lately)")

	// The default waits for send/ too: the failed send makes it exit 1.
	code, _, stderr = runCmd("wait", mnt, "--timeout", "30s")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "big.bin: failed")
}

// TestWaitForSendTimesOut: a send that cannot go yet keeps wait until its
// timeout (exit 2), saying what is still waiting.
func TestWaitForSendTimesOut(t *testing.T) {
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "1h", "--send-as", "support")
	p := filepath.Join(mnt, demoApp, "send", "rooms", "1234", "later.pdf")
	require.NoError(t, os.WriteFile(p, []byte("%PDF-1.4\n"), 0o644))
	code, _, stderr := runCmd("wait", "--timeout", "300ms", mnt)
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "later.pdf: still waiting")
	assert.Contains(t, stderr, "timed out: 1 of 1 files not landed")
}

// getxattrStr reads an extended attribute of path.
func getxattrStr(t *testing.T, path, name string) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, name, buf)
	require.NoError(t, err, "%s of %s", name, path)
	return string(buf[:n])
}

// TestSendAsMustBeAUserName: a malformed --send-as is refused at mount,
// saying why.
func TestSendAsMustBeAUserName(t *testing.T) {
	code, _, stderr := runCmd("mount", "--state", t.TempDir(), "--send-as", "no such user!", t.TempDir())
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "not a well-formed user name")
}
