package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
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

// TestEmbeddedDemoSeededOnFreshStateOnly: the embedded emulator of a fresh
// state directory holds the demo conversation; a remount does not seed it
// again, and a state directory whose emulator already has files is left
// alone.
func TestEmbeddedDemoSeededOnFreshStateOnly(t *testing.T) {
	demoMessages := func(dirs config.Dirs) int {
		t.Helper()
		s, err := emulator.New(emulator.Options{Dir: filepath.Join(dirs.Data, "emulator"), Token: "t", Logger: discard()})
		require.NoError(t, err)
		recs, err := s.Messages("app-id/" + demoApp)
		require.NoError(t, err)
		return len(recs)
	}
	build := func(dirs config.Dirs) string {
		t.Helper()
		var out bytes.Buffer
		_, stop, err := buildApps(context.Background(), mountArgs{}, dirs, discard(), &out, io.Discard)
		require.NoError(t, err)
		stop()
		return out.String()
	}
	dirs, err := config.StateDirs(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, dirs.MakeDirs())
	assert.Contains(t, build(dirs), "Seeded a demo conversation")
	assert.Equal(t, 7, demoMessages(dirs))
	assert.NotContains(t, build(dirs), "Seeded a demo")
	assert.Equal(t, 7, demoMessages(dirs), "not seeded twice")

	// An emulator that already has files (a state directory from before
	// the demo existed) gets none.
	old, err := config.StateDirs(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, old.MakeDirs())
	app := filepath.Join(old.Data, "emulator", "apps", "app-id%2Fdemo")
	require.NoError(t, os.MkdirAll(app, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(app, "x"), nil, 0o600))
	assert.NotContains(t, build(old), "Seeded a demo")
	assert.Equal(t, 0, demoMessages(old))
}
