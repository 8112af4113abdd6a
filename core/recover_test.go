package core_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// doneEntry leaves rel's queue entry Done with a recorded file, as a crash
// between recording an upload and moving its bytes would.
func doneEntry(t *testing.T, e *env, rel, uuid string) {
	t.Helper()
	require.NoError(t, e.idx.Enqueue(testApp, rel))
	u, ok, err := e.idx.Claim(testApp, e.clock.Now())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, rel, u.Path)
	require.NoError(t, e.idx.Complete(testApp, rel, &index.File{UUID: uuid, Name: rel, Size: 4}))
	u, err = e.idx.GetUpload(testApp, rel)
	require.NoError(t, err)
	require.Equal(t, index.Done, u.State)
}

// After a crash between recording an upload and moving its bytes, start
// finishes the move instead of uploading again.
func TestRecoverFinishesDoneEntry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := newEnv(t, fr, nil)
		const uuid = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"
		doneEntry(t, e, "a.txt", uuid)
		e.writeDisk("a.txt", []byte("data"))
		doneEntry(t, e, "gone.txt", "5fd74830-5796-11e9-9ed2-2b3b4c4a1e60")

		e.start()
		assert.Equal(t, []byte("data"), e.cached(uuid))
		assert.False(t, e.exists("a.txt"))
		assert.Equal(t, 0, e.queueLen())
		quietFor(t, fr, 10*e.opts.SettleDelay, 0)
	})
}

// Start marks failed the staged files the queue does not hold (they were
// being written when chatfs stopped: likely a prefix), never uploads them
// until they are touched, and drops entries whose file is gone. Files
// closed successfully (queued) upload as before.
func TestRecoverFailsCutFilesAndDropsGhosts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := newEnv(t, fr, nil)
		e.writeDisk("x.txt", []byte("x"))
		e.writeDisk("dir/y.txt", []byte("y"))
		e.writeDisk(".z", []byte("z"))
		e.writeDisk("dir/.cache/w.txt", []byte("w"))
		require.NoError(t, e.idx.Enqueue(testApp, "queued.txt"))
		e.writeDisk("queued.txt", []byte("q"))
		require.NoError(t, e.idx.Enqueue(testApp, "ghost.txt"))

		e.start()
		_, err := e.idx.GetUpload(testApp, "ghost.txt")
		assert.ErrorIs(t, err, index.ErrNotFound, "entry without a file is dropped at start")
		e.record("queued.txt")
		for _, rel := range []string{"x.txt", "dir/y.txt"} {
			state, reason, ok := e.ob.State(rel)
			require.True(t, ok)
			assert.Equal(t, core.StateFailed, state, rel)
			assert.Contains(t, reason, "stopped while it was being written", rel)
		}
		quietFor(t, fr, 10*e.opts.SettleDelay, 1)
		assert.ElementsMatch(t, []string{"queued.txt"}, e.files())
		assert.True(t, e.exists(".z"))
		assert.True(t, e.exists("dir/.cache/w.txt"))

		// Touched, the user's word that it is whole: uploaded.
		e.touch("x.txt")
		e.record("x.txt")
	})
}

// A video waits for its thumbnail sibling, uploaded first, and records it.
func TestVideoWaitsForThumbnailSibling(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, nil)
		// The thumbnail is still being written when the video settles.
		id := e.open("clip.mp4.thumb.jpg")
		e.writeDisk("clip.mp4.thumb.jpg", jpegBytes)
		e.write("clip.mp4", mp4Bytes)
		e.waitFor(func() bool {
			_, reason, _ := e.ob.State("clip.mp4")
			return strings.Contains(reason, "thumbnail")
		}, "the video to wait for its thumbnail")
		assert.Empty(t, fr.calls())
		e.close(id)

		video := e.record("clip.mp4")
		thumb := e.record("clip.mp4.thumb.jpg")
		calls := fr.calls()
		require.Len(t, calls, 2)
		assert.Equal(t, "clip.mp4.thumb.jpg", calls[0].Name)
		assert.Equal(t, "clip.mp4", calls[1].Name)
		assert.Equal(t, "video/mp4", video.MIME)
		assert.False(t, video.HasThumb)
		assert.Equal(t, thumb.UUID, video.ThumbUUID)

		entry, err := e.app.Lookup(context.Background(), video.UUID+".thumb")
		require.NoError(t, err)
		assert.Equal(t, int64(len(jpegBytes)), size(e.app, entry))
		// The image's own server thumbnail is prefetched; let it land.
		e.waitFor(func() bool { return e.cache.Has(thumb.UUID + ".thumb") }, "image thumbnail prefetch")
	})
}

// A thumbnail sibling that failed for good does not hold its video back.
func TestVideoNotBlockedByFailedThumbnail(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.onUpload = func(ctx context.Context, n int, s sent) error {
			if strings.HasSuffix(s.Name, ".thumb.png") {
				return remoteErr(400, remote.CodeIllegalArgument)
			}
			return nil
		}
		e := startEnv(t, fr, nil)
		e.write("clip.mp4.thumb.png", pngBytes)
		e.write("clip.mp4", mp4Bytes)

		video := e.record("clip.mp4")
		assert.Empty(t, video.ThumbUUID)
		state, _, _ := e.ob.State("clip.mp4.thumb.png")
		assert.Equal(t, core.StateFailed, state)
		assert.True(t, e.exists("clip.mp4.thumb.png"))
	})
}
