package main

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

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

// TestEmbeddedDemoAppearsInChats: "chatfs mount MOUNTPOINT" on a fresh
// state directory, as the README's first example does, shows the demo
// conversation in chats/ within a minute (the import asks 10 hours a
// minute, newest first), links, times and bytes included.
func TestEmbeddedDemoAppearsInChats(t *testing.T) {
	state, mnt := t.TempDir(), t.TempDir()
	startCLIMount(t, mnt, "--state", state)
	chats := filepath.Join(mnt, demoApp, "chats")
	names := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		sort.Strings(out)
		return out
	}
	alice := filepath.Join(chats, "users", emulator.DemoUser1)
	group := filepath.Join(chats, "groups", emulator.DemoGroup)
	want := []string{"kitten.jpg", "quarterly-report.pdf", "sunset.png"}
	waitFor(t, 60*time.Second, "the demo in chats/", func() bool {
		return strings.Join(names(alice), ",") == strings.Join(want, ",") && len(names(group)) == 2
	})
	assert.Equal(t, want, names(filepath.Join(chats, "users", emulator.DemoUser2)))
	assert.Equal(t, []string{"agenda.pdf", "whiteboard.png"}, names(group))
	assert.Equal(t, []string{emulator.DemoUser1, emulator.DemoUser2}, names(filepath.Join(chats, "users")))

	// Newest first, in past hours; the links lead to readable files.
	var times []time.Time
	for _, n := range []string{"quarterly-report.pdf", "kitten.jpg", "sunset.png"} {
		st, err := os.Lstat(filepath.Join(alice, n))
		require.NoError(t, err)
		assert.True(t, st.ModTime().Before(time.Now().Add(-time.Hour)), "%s sent in a past hour: %v", n, st.ModTime())
		times = append(times, st.ModTime())
	}
	assert.True(t, times[0].After(times[1]) && times[1].After(times[2]), "%v", times)
	for _, n := range []string{"kitten.jpg", "sunset.png"} {
		f, err := os.Open(filepath.Join(alice, n))
		require.NoError(t, err)
		_, _, err = image.Decode(f)
		f.Close()
		assert.NoError(t, err, n)
	}
	pdf, err := os.ReadFile(filepath.Join(alice, "quarterly-report.pdf"))
	require.NoError(t, err, "a restricted file, read with the share-secret from its message")
	assert.True(t, bytes.HasPrefix(pdf, []byte("%PDF-")))
}
