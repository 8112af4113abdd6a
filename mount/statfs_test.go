//go:build linux

package mount_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// statfs on any folder or file of the mount reports the state disk, as df
// and file managers read it: its size and free blocks, and as available
// what upload/ accepts (the free space less upload/'s reserve). A copy of
// the size offered then fits.
func TestStatfsReportsTheStateDisk(t *testing.T) {
	requireFUSE(t)
	disk := smallDisk(t, 160<<20)
	svc := newService(t, emulator.Options{MaxSize: 1 << 30})
	state := filepath.Join(disk, "state")
	h := newHarness(t, svc, state, func(o *mount.Options, a *config.App) {
		a.MaxSize = 1 << 30
		o.SettleDelay = time.Hour // the big file below stays staged
	})
	require.NoError(t, os.WriteFile(h.path("upload", "small.txt"), []byte("x"), 0o600))
	require.NoError(t, os.Mkdir(h.path("upload", "album"), 0o700))

	// The state disk moves while the index writes: compare against two
	// equal samples of it taken around the mount's.
	var disk1, disk2, got unix.Statfs_t
	sample := func(p string) {
		t.Helper()
		eventually(t, 10*time.Second, "a quiet state disk", func() bool {
			require.NoError(t, unix.Statfs(disk, &disk1))
			require.NoError(t, unix.Statfs(p, &got))
			require.NoError(t, unix.Statfs(disk, &disk2))
			return disk1 == disk2
		})
	}
	for _, p := range []string{h.mnt, filepath.Join(h.mnt, appID), h.path("files"), h.path("by-name"),
		h.path("upload"), h.path("upload", "album"), h.path("upload", "small.txt")} {
		sample(p)
		unit := uint64(disk1.Frsize)
		reserve := (uint64(core.DefaultReserve) + unit - 1) / unit
		assert.Equal(t, disk1.Blocks, got.Blocks, "%s: size", p)
		assert.Equal(t, disk1.Bfree, got.Bfree, "%s: free", p)
		assert.Equal(t, disk1.Bavail-reserve, got.Bavail, "%s: available: the free space less upload/'s reserve", p)
		assert.Equal(t, disk1.Bsize, got.Bsize, p)
		assert.Equal(t, disk1.Frsize, got.Frsize, p)
		assert.Equal(t, disk1.Files, got.Files, p)
		assert.Equal(t, disk1.Ffree, got.Ffree, p)
		assert.Equal(t, disk1.Namelen, got.Namelen, p)
		assert.NotZero(t, got.Bavail, p)
	}

	// The space offered is the space upload/ takes: a file of that size
	// less a little (the index's own writes) fits.
	sample(h.mnt)
	fits := int64(got.Bavail)*got.Frsize - 4<<20
	require.Greater(t, fits, int64(16<<20))
	require.NoError(t, os.WriteFile(h.path("upload", "big.bin"), make([]byte, fits), 0o600))
}
