//go:build linux

package mount_test

import (
	"os"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// posixCases are the go-fuse posixtest cases that fit upload/: a writable
// directory of regular files and folders. Left out, by design: hard links
// and symlinks (refused: a file there is uploaded and moved away), xattrs
// (upload/ shows only chatfs's state), file locks, and FileBasic, which
// expects a mode of 0755 back where upload/ keeps staged files private to
// their owner (group and other bits dropped: they are state files).
var posixCases = []string{
	"AppendWrite", "DirSeek", "FdLeak", "FstatDeleted", "MkdirRmdir", "NlinkZero",
	"OpenAt", "ParallelFileOpen", "ReadDirBasic", "ReadDirConsistency", "RenameOpenDir",
	"RenameOverwriteDestExist", "RenameOverwriteDestNoExist", "TruncateFile", "TruncateNoFile",
	"Fallocate", "LseekHoleSeeksToEOF",
}

func TestPosixUpload(t *testing.T) {
	svc := newService(t, emulator.Options{})
	// A settle delay longer than the test: nothing leaves upload/ meanwhile.
	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) { o.SettleDelay = time.Hour })
	for _, name := range posixCases {
		fn, ok := posixtest.All[name]
		require.True(t, ok, name)
		t.Run(name, func(t *testing.T) {
			dir, err := os.MkdirTemp(h.path("upload"), ".posix-")
			require.NoError(t, err)
			fn(t, dir)
		})
	}
}
