package control

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func status(r Request) Status {
	return Status{Version: SchemaVersion, Apps: []App{{Name: "a", LastSeq: r.Since["a"] + 1}}}
}

// TestServerAnswersAndCloses: the socket is 0600, answers requests in
// order on one connection, refuses a bad request, replaces a stale socket,
// and Close ends its connections and removes it.
func TestServerAnswersAndCloses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	// A stale socket left by a crash.
	stale, err := net.Listen("unix", path)
	require.NoError(t, err)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	s, err := Listen(path, status, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	c, err := DialSocket(context.Background(), path)
	require.NoError(t, err)
	for i := uint64(0); i < 3; i++ {
		st, err := c.Status(context.Background(), false, map[string]uint64{"a": i})
		require.NoError(t, err)
		assert.Equal(t, i+1, st.Apps[0].LastSeq)
	}

	raw, err := net.Dial("unix", path)
	require.NoError(t, err)
	_, _ = raw.Write([]byte("{\"op\":\"shutdown\"}\n"))
	b := make([]byte, 200)
	n, _ := raw.Read(b)
	assert.Contains(t, string(b[:n]), "bad request")
	raw.Close()

	require.NoError(t, s.Close())
	_, err = c.Status(context.Background(), false, nil)
	assert.Error(t, err, "the connection is closed with the server")
	c.Close()
	_, err = os.Lstat(path)
	assert.True(t, os.IsNotExist(err), "the socket is removed: %v", err)
}

// TestLongSocketPath: a state directory deeper than a socket address
// allows still gets its socket, reached through its folder's descriptor.
func TestLongSocketPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	require.NoError(t, os.MkdirAll(dir, 0o700))
	path := filepath.Join(dir, "control.sock")
	require.Greater(t, len(path), maxSunPath)
	s, err := Listen(path, status, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer s.Close()
	c, err := DialSocket(context.Background(), path)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Status(context.Background(), false, nil)
	require.NoError(t, err)
}

// TestListenRefusesNonSocket: a file that is not a socket is never removed.
func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	require.NoError(t, os.WriteFile(path, []byte("keep"), 0o600))
	_, err := Listen(path, status, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "not a socket")
	b, _ := os.ReadFile(path)
	assert.Equal(t, "keep", string(b))
}
