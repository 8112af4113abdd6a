package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	sent, err := Notify(Ready)
	assert.False(t, sent)
	assert.NoError(t, err)

	path := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	sent, err = Notify(Ready, Status("3 waiting\nforged=1"))
	require.NoError(t, err)
	assert.True(t, sent)
	buf := make([]byte, 4096)
	require.NoError(t, ln.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err := ln.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "READY=1\nSTATUS=3 waiting forged=1\n", string(buf[:n]))

	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "none"))
	_, err = Notify(Stopping)
	assert.Error(t, err)
}

// An abstract socket ("@name") is reached too.
func TestNotifyAbstract(t *testing.T) {
	name := "chatfs-test-" + time.Now().Format("150405.000000000")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + name, Net: "unixgram"})
	require.NoError(t, err)
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", "@"+name)
	_, err = Notify(Stopping)
	require.NoError(t, err)
	buf := make([]byte, 100)
	require.NoError(t, ln.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err := ln.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "STOPPING=1\n", string(buf[:n]))
}
