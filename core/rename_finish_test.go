package core_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An upload that the server has accepted is not moved out of upload/ while
// a rename of a folder above it is under way: the rename could move the
// staged file first, and it would then be uploaded and recorded a second
// time under the new folder name.
//
// The rename's disk step is made to land between the uploader's check that
// the staged file is unchanged and its move into the cache: the folder is
// renamed while the upload is in flight, and the old path is left naming
// the same inode (a hard link), as it did when the check ran.
func TestFolderRenameDuringFinishRecordsOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		var ids []uint64
		var once sync.Once
		var e *env
		fr.onUpload = func(ctx context.Context, n int, s sent) error {
			once.Do(func() {
				// fs.Rename: both names are brief writers, then the disk rename.
				ids = []uint64{e.ob.Opened("dir"), e.ob.Opened("dir2")}
				assert.NoError(t, os.Rename(e.path("dir"), e.path("dir2")))
				assert.NoError(t, os.Mkdir(e.path("dir"), 0o700))
				assert.NoError(t, os.Link(e.path("dir2/f.txt"), e.path("dir/f.txt")))
			})
			return nil
		}
		e = startEnv(t, fr, nil)
		e.write("dir/f.txt", []byte("once"))

		// The first attempt has returned and been dealt with: recorded and
		// moved (the bug), or left to be uploaded again.
		waitFor(t, func() bool { return len(fr.done()) > 0 && e.ob.Busy() == 0 }, "the first attempt to finish")
		// Undo the stand-in for the moment of the check, and end the rename.
		if err := os.Remove(e.path("dir/f.txt")); err != nil {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
		require.NoError(t, os.Remove(e.path("dir")))
		e.ob.Renamed("dir", "dir2")
		for _, id := range ids {
			e.ob.Closed(id)
		}

		e.record("dir2/f.txt")
		waitFor(t, func() bool { return e.queueLen() == 0 }, "the queue to drain")
		quietFor(t, fr, 5*e.opts.SettleDelay, len(fr.calls()))
		assert.Equal(t, []string{"f.txt"}, e.files(), "recorded once")
	})
}
