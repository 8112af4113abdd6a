package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chatfs status never writes a control character to the terminal: names
// and reasons that hold one are printed quoted. The mount is imitated by a
// directory with the xattrs chatfs serves (no FUSE needed).
func TestStatusEscapesControlCharacters(t *testing.T) {
	mnt := t.TempDir()
	setx := func(p, name, value string) {
		err := unix.Setxattr(p, name, []byte(value), 0)
		if errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EPERM) {
			t.Skipf("no user xattrs on %s: %v", mnt, err)
		}
		require.NoError(t, err)
	}
	setx(mnt, "user.chatfs.cache_bytes", "0")
	setx(mnt, "user.chatfs.cache_files", "0")
	upload := filepath.Join(mnt, "app\x1b]0;title\a", "upload")
	require.NoError(t, os.MkdirAll(upload, 0o700))
	for _, name := range []string{"esc\x1b[2J.txt", "two\nlines: failed: forged", "\xff\xfe.bin", "plain.txt"} {
		p := filepath.Join(upload, name)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
		setx(p, "user.chatfs.state", "failed")
		setx(p, "user.chatfs.error", "400: bad name \x1b[31m"+name)
	}

	code, out, errOut := runCmd("status", mnt)
	require.Equal(t, 0, code, errOut)
	for _, c := range out {
		assert.False(t, c != '\n' && (c < 0x20 || c == 0x7f), "control character %q in %q", c, out)
	}
	assert.NotContains(t, out, "\xff")
	assert.Contains(t, out, `  failed: "esc\x1b[2J.txt": "400: bad name \x1b[31mesc\x1b[2J.txt"`)
	assert.Contains(t, out, `  failed: plain.txt: "400: bad name \x1b[31mplain.txt"`)
	assert.Contains(t, out, `"app\x1b]0;title\a": 0 waiting, 0 uploading, 4 failed`)
	assert.Equal(t, 6, strings.Count(out, "\n"), "one line per app, per failure and for the cache: %q", out)
}
