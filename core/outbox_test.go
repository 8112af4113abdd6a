package core_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
)

// A file is uploaded once its last writer has closed and it has settled,
// never while a writer is open.
func TestOutboxSettlesAfterLastWriter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, nil)

		first := e.open("a.txt")
		second := e.open("a.txt")
		e.writeDisk("a.txt", []byte("hello"))
		e.close(first)
		state, _, ok := e.ob.State("a.txt")
		require.True(t, ok)
		assert.Equal(t, core.StateWaiting, state)
		quietFor(t, fr, 10*e.opts.SettleDelay, 0)

		e.close(second)
		f := e.record("a.txt")
		quietFor(t, fr, 10*e.opts.SettleDelay, 1)
		assert.Equal(t, []byte("hello"), fr.calls()[0].Body)
		assert.Equal(t, int64(5), f.Size)
		assert.False(t, e.exists("a.txt"))
	})
}

// Temporary names, and files in hidden folders, are never uploaded.
func TestOutboxNeverUploadsTempNames(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, nil)

		temps := []string{".x", "x~", "x.part", "x.crdownload", "x.swp", ".hidden/a.txt", "dir/.cache/b.txt"}
		for _, rel := range temps {
			e.write(rel, []byte("temp"))
			_, _, ok := e.ob.State(rel)
			assert.False(t, ok, "%s has an upload state", rel)
		}
		e.write("real.txt", []byte("real"))
		e.record("real.txt")
		quietFor(t, fr, 10*e.opts.SettleDelay, 1)
		for _, rel := range temps {
			assert.True(t, e.exists(rel), "%s still staged", rel)
		}
	})
}

// Writing a temporary file and renaming it uploads once, under the final
// name, whether the temporary name is one chatfs knows or not.
func TestOutboxWriteThenRenameUploadsOnce(t *testing.T) {
	t.Parallel()
	for _, tmp := range []string{".report.txt.swp", "report.tmp"} {
		t.Run(tmp, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				// A delay long enough that the rename always comes before it.
				e := startEnv(t, fr, func(o *core.Options) { o.SettleDelay = 300 * time.Millisecond })
				e.write(tmp, []byte("final"))
				e.rename(tmp, "report.txt")
				f := e.record("report.txt")
				quietFor(t, fr, 2*e.opts.SettleDelay, 1)
				assert.Equal(t, "report.txt", fr.calls()[0].Name)
				assert.Equal(t, []string{"report.txt"}, e.files())
				assert.Equal(t, []byte("final"), e.cached(f.UUID))
			})
		})
	}
}

// A rename while the file is being uploaded cancels that upload and uploads
// it again under the new name; if the server still stores the old upload,
// it is not recorded.
func TestOutboxRenameDuringUpload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		serverStore bool // the server finishes the old upload despite the cancel
	}{{"cancelled", false}, {"server stored it", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				g := newGate()
				fr.onUpload = func(ctx context.Context, n int, s sent) error {
					if n != 1 {
						return nil
					}
					if tc.serverStore {
						<-g.release
						return nil
					}
					return g.wait(ctx)
				}
				e := startEnv(t, fr, nil)
				e.write("a.txt", []byte("content"))
				waitFor(t, func() bool { return len(fr.calls()) == 1 }, "first upload")
				e.rename("a.txt", "b.txt")
				g.open()

				f := e.record("b.txt")
				calls := fr.calls()
				require.Len(t, calls, 2, "calls: %v", names(calls))
				assert.Equal(t, "a.txt", calls[0].Name)
				assert.Equal(t, "b.txt", calls[1].Name)
				assert.Equal(t, tc.serverStore, calls[0].UUID != "", "what the server got under the old name")
				assert.Equal(t, "b.txt", f.Name)
				assert.Equal(t, calls[1].UUID, f.UUID)
				assert.Equal(t, []string{"b.txt"}, e.files())
				assert.False(t, e.exists("b.txt"))
			})
		})
	}
}

// A writer opening during an upload cancels it; the new content is uploaded
// once the writer closes, and nothing is claimed over and over meanwhile.
func TestOutboxWriterDuringUpload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		g := newGate()
		fr.onUpload = func(ctx context.Context, n int, s sent) error {
			if n == 1 {
				return g.wait(ctx)
			}
			return nil
		}
		e := startEnv(t, fr, nil)
		e.write("a.txt", []byte("old"))
		waitFor(t, func() bool { return len(fr.calls()) == 1 }, "first upload")

		id := e.open("a.txt")
		waitFor(t, func() bool { return len(fr.done()) == 1 }, "the upload to be cancelled")
		require.ErrorIs(t, fr.calls()[0].Err, context.Canceled)
		// While the writer is open the worker must sleep, not claim the path
		// again and again: count its clock readings over a while (of
		// fake time: the bubble's clock moves only when all are idle).
		time.Sleep(5 * e.opts.SettleDelay)
		synctest.Wait()
		before := e.clock.reads.Load()
		time.Sleep(10 * e.opts.SettleDelay)
		synctest.Wait()
		assert.Less(t, e.clock.reads.Load()-before, int64(20), "uploaders spin while a writer is open")
		require.Len(t, fr.calls(), 1)
		e.writeDisk("a.txt", []byte("new content"))
		e.close(id)

		f := e.record("a.txt")
		quietFor(t, fr, 5*e.opts.SettleDelay, 2)
		assert.Equal(t, []byte("new content"), fr.calls()[1].Body)
		assert.Equal(t, int64(len("new content")), f.Size)
		assert.Equal(t, []byte("new content"), e.cached(f.UUID))
	})
}

// Removing a file while it uploads records nothing and leaves no trace.
func TestOutboxRemovedDuringUpload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		serverStore bool
	}{{"cancelled", false}, {"server stored it", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				g := newGate()
				fr.onUpload = func(ctx context.Context, n int, s sent) error {
					if tc.serverStore {
						<-g.release
						return nil
					}
					return g.wait(ctx)
				}
				e := startEnv(t, fr, nil)
				e.write("a.txt", []byte("content"))
				waitFor(t, func() bool { return len(fr.calls()) == 1 }, "upload")
				e.remove("a.txt")
				g.open()
				waitFor(t, func() bool { return len(fr.done()) == 1 && e.queueLen() == 0 }, "upload to end and queue to empty")
				quietFor(t, fr, 5*e.opts.SettleDelay, 1)
				assert.Empty(t, e.files())
				assert.False(t, e.exists("a.txt"))
				assert.Equal(t, 0, e.queueLen())
			})
		})
	}
}

// A change by name (truncate, new times), a brief writer to fs/, settles
// the file again.
func TestOutboxChangeByNameSettlesAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, func(o *core.Options) { o.SettleDelay = 300 * time.Millisecond })
		e.writeDisk("a.txt", []byte("x"))
		e.touch("a.txt")
		time.Sleep(e.opts.SettleDelay / 3) // fake time
		e.touch("a.txt")                   // restarts the timer
		again := time.Now()
		e.record("a.txt")
		require.Len(t, fr.calls(), 1)
		assert.GreaterOrEqual(t, fr.calls()[0].At.Sub(again), e.opts.SettleDelay)
	})
}

// A folder and the files below it are uploaded; renaming the folder before
// they settle uploads them under their new paths' names.
func TestOutboxFolderRename(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, func(o *core.Options) { o.SettleDelay = 200 * time.Millisecond })
		e.write("d/one.txt", []byte("1"))
		e.write("d/sub/two.txt", []byte("2"))
		e.rename("d", "e")
		e.record("e/one.txt")
		e.record("e/sub/two.txt")
		quietFor(t, fr, 2*e.opts.SettleDelay, 2)
		assert.ElementsMatch(t, []string{"one.txt", "two.txt"}, e.files())
	})
}

// A writer that opens and closes during an upload cancels it; the file
// settles again before the next upload, and no two uploads of one path
// ever run at once.
func TestOutboxReopenDuringUploadSettlesFirst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		closed := make(chan struct{})
		var mu sync.Mutex
		running, most := 0, 0
		fr.onUpload = func(ctx context.Context, n int, s sent) error {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			if n == 1 {
				<-ctx.Done()
				<-closed // report the cancel only once the writer has closed
				return ctx.Err()
			}
			time.Sleep(300 * time.Millisecond) // fake time: longer than the settle delay
			return nil
		}
		e := startEnv(t, fr, func(o *core.Options) { o.SettleDelay = 200 * time.Millisecond })
		e.write("a.txt", []byte("x"))
		waitFor(t, func() bool { return len(fr.calls()) == 1 }, "first upload")

		e.touch("a.txt") // e.g. touch
		reopened := time.Now()
		close(closed)
		f := e.record("a.txt")
		quietFor(t, fr, 2*e.opts.SettleDelay, 2)
		calls := fr.calls()
		assert.GreaterOrEqual(t, calls[1].At.Sub(reopened), e.opts.SettleDelay/2, "uploaded again before settling")
		assert.Equal(t, calls[1].UUID, f.UUID)
		mu.Lock()
		assert.Equal(t, 1, most, "uploads of one path at once")
		mu.Unlock()
	})
}

// A file replaced by a rename while its upload is in flight, by one of the
// same size and modification time (cp -p, rsync -t), is not what the
// server got: its bytes must not be recorded under the old upload's uuid.
func TestOutboxReplacedDuringUploadIsNotAdopted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		g := newGate()
		fr.onUpload = func(ctx context.Context, n int, s sent) error {
			if n == 1 {
				<-g.release // the server stores it, cancelled or not
			}
			return nil
		}
		e := startEnv(t, fr, nil)
		e.write("a.txt", []byte("old!"))
		waitFor(t, func() bool { return len(fr.calls()) == 1 }, "first upload")

		fi, err := os.Stat(e.path("a.txt"))
		require.NoError(t, err)
		e.writeDisk(".a.txt.tmp", []byte("new!"))
		require.NoError(t, os.Chtimes(e.path(".a.txt.tmp"), fi.ModTime(), fi.ModTime()))
		require.NoError(t, os.Rename(e.path(".a.txt.tmp"), e.path("a.txt")))
		g.open() // the upload returns between the rename and its event
		f := e.record("a.txt")
		e.ob.Renamed(".a.txt.tmp", "a.txt")

		fr.mu.Lock()
		server := fr.files[f.UUID]
		fr.mu.Unlock()
		assert.Equal(t, []byte("new!"), server, "the record's uuid holds the new content on the server")
		assert.Equal(t, server, e.cached(f.UUID), "the cache holds what the server has")
	})
}
