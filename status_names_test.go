package main

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/internal/control"
)

// fakeMount imitates a mount for chatfs status: a directory whose
// user.chatfs.control xattr names a control socket answering st (no FUSE
// needed).
func fakeMount(t *testing.T, st control.Status) string {
	t.Helper()
	mnt := t.TempDir()
	srv, err := control.Listen(filepath.Join(t.TempDir(), "control.sock"), func(control.Request) control.Status { return st },
		slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	err = unix.Setxattr(mnt, control.XattrName, []byte(srv.Path()), 0)
	if errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EPERM) {
		t.Skipf("no user xattrs on %s: %v", mnt, err)
	}
	require.NoError(t, err)
	return mnt
}

// chatfs status never writes a control character to the terminal: names
// and reasons that hold one are printed quoted.
func TestStatusEscapesControlCharacters(t *testing.T) {
	app := control.App{Name: "app\x1b]0;title\a", Disk: "ok"}
	for _, name := range []string{"esc\x1b[2J.txt", "two\nlines: failed: forged", "\xff\xfe.bin", "plain.txt"} {
		app.Uploads = append(app.Uploads, control.Upload{Path: name, State: control.Failed, Attempts: 1, Error: "400: bad name \x1b[31m" + name})
	}
	app.Ignored = []control.Ignored{{Path: ".x\x1b[1m", Why: "hidden\x07"}}
	mnt := fakeMount(t, control.Status{Version: 1, Apps: []control.App{app}})

	code, out, errOut := runCmd("status", mnt)
	require.Equal(t, 1, code, errOut)
	for _, c := range out {
		assert.False(t, c != '\n' && (c < 0x20 || c == 0x7f), "control character %q in %q", c, out)
	}
	assert.NotContains(t, out, "\xff")
	assert.Contains(t, out, `  failed: "esc\x1b[2J.txt": "400: bad name \x1b[31mesc\x1b[2J.txt" (0 bytes, 1 attempt)`)
	assert.Contains(t, out, `  failed: plain.txt: "400: bad name \x1b[31mplain.txt"`)
	assert.Contains(t, out, `  ignored: ".x\x1b[1m": "hidden\a"`)
	assert.Contains(t, out, `"app\x1b]0;title\a": 0 waiting, 0 uploading, 4 failed, 1 ignored`)
	assert.Equal(t, 8, strings.Count(out, "\n"), "one line per app, its history, per upload, per ignored entry and for the cache: %q", out)
}

// TestStatusLines: each state's line says what a person needs: progress
// while uploading, attempts and the next try while waiting to retry.
func TestStatusLines(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		u    control.Upload
		want string
	}{
		{control.Upload{Path: "a.pdf", Size: 10, State: control.Waiting}, "a.pdf (10 bytes)"},
		{control.Upload{Path: "a.pdf", Size: 4 << 20, State: control.Uploading, Sent: 1 << 20}, "a.pdf (4.0 MiB, 1.0 MiB sent, 25%)"},
		{control.Upload{Path: "a.pdf", Size: 2048, State: control.Waiting, Attempts: 2, NextRetry: now.Add(8 * time.Second), Error: "503 busy"},
			"a.pdf (2.0 KiB, 2 attempts failed, next try in 8s): 503 busy"},
		{control.Upload{Path: "b", Size: 1, State: control.Failed, Attempts: 1, Error: "413 too large"}, "b: 413 too large (1 bytes, 1 attempt)"},
	} {
		assert.Equal(t, tc.want, uploadLine(tc.u, now))
	}
}

// TestStatusRefusesWhatIsNoMount: a directory that is no chatfs mount, and
// a socket that answers nonsense, are errors (exit 1), not a status.
func TestStatusRefusesWhatIsNoMount(t *testing.T) {
	code, _, stderr := runCmd("status", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is not a live chatfs mount")

	code, _, stderr = runCmd("status")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "usage: chatfs status")
}

// xattr reads one extended attribute as a string.
func xattr(path, name string) (string, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getxattr(path, name, buf)
		if errors.Is(err, syscall.ERANGE) && len(buf) < 1<<20 {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(buf[:n])), nil
	}
}
