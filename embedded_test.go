package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote/emulator"
)

// TestEmbeddedEmulatorKeepsItsPort: the embedded emulator comes back on the
// port it had, so URLs recorded for its files stay valid; when the port is
// taken it moves to a new one and remembers that.
func TestEmbeddedEmulatorKeepsItsPort(t *testing.T) {
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	o := emulator.Options{Dir: filepath.Join(dir, "emu"), Logger: discard()}
	first, err := startEmbedded(context.Background(), addrFile, o)
	require.NoError(t, err)
	url := first.URL
	require.NoError(t, first.Stop())

	again, err := startEmbedded(context.Background(), addrFile, o)
	require.NoError(t, err)
	assert.Equal(t, url, again.URL)

	// Taken (the running one holds it): a new port, remembered.
	moved, err := startEmbedded(context.Background(), addrFile, o)
	require.NoError(t, err)
	defer moved.Stop()
	defer again.Stop()
	assert.NotEqual(t, url, moved.URL)
	b, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	host, _, err := net.SplitHostPort(string(b[:len(b)-1]))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	fi, err := os.Stat(addrFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}
