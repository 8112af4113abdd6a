package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSystemdNotify: under a Type=notify unit ($NOTIFY_SOCKET), the mount
// says READY=1 with a STATUS= line of its queue once it is live, and
// STOPPING=1 when it is unmounted.
func TestSystemdNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	defer sock.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	read := func() string {
		buf := make([]byte, 4096)
		require.NoError(t, sock.SetReadDeadline(time.Now().Add(20*time.Second)))
		n, err := sock.Read(buf)
		require.NoError(t, err)
		return string(buf[:n])
	}

	mnt := t.TempDir()
	m := startCLIMount(t, mnt, "--state", t.TempDir())
	msg := read()
	assert.Contains(t, msg, "READY=1\n")
	assert.Contains(t, msg, "STATUS=mounted on "+mnt+"; demo: 0 waiting, 0 uploading, 0 failed (send/: 0 waiting, 0 uploading, 0 sending, 0 failed)\n")
	_, err = os.Stat(filepath.Join(mnt, demoApp, "upload"))
	require.NoError(t, err, "READY=1 comes once the mount is live")

	require.NoError(t, exec.Command(m.fusermount, "-u", mnt).Run())
	msg = read()
	assert.Contains(t, msg, "STOPPING=1\n")
	assert.Contains(t, msg, "STATUS=stopping")
	select {
	case code := <-m.done:
		m.done <- code
		assert.Equal(t, 0, code)
	case <-time.After(30 * time.Second):
		t.Fatal("chatfs mount did not return after the unmount")
	}
}
