package core_test

import (
	"errors"
	"os"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
)

// gatedSyncer holds every file sync until release is closed (failing it
// with fileErr then), and counts folder syncs, which it does at once.
type gatedSyncer struct {
	release chan struct{}
	started chan struct{} // closed when the first file sync has begun
	fileErr error

	mu   sync.Mutex
	dirs int
	once sync.Once
}

func (g *gatedSyncer) File(core.SyncFile) error {
	g.once.Do(func() { close(g.started) })
	<-g.release
	return g.fileErr
}

func (g *gatedSyncer) Dir(string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dirs++
	return nil
}

func (g *gatedSyncer) dirCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dirs
}

// A close syncs the file and its folder side by side, and the file is
// queued only once its data sync has returned: while the data sync
// hangs, the folder is synced and the file has no queue entry; a failed
// data sync fails the close and the file.
func TestCloseQueuesOnlyAfterTheDataSync(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) { closeWithGatedSync(t, fail) })
	}
}

func closeWithGatedSync(t *testing.T, fail bool) {
	{
		g := &gatedSyncer{release: make(chan struct{}), started: make(chan struct{})}
		if fail {
			g.fileErr = errors.New("sync: the disk is gone")
		}
		e := startEnv(t, newFakeRemote(), func(o *core.Options) { o.Sync = g })
		id := e.open("a.txt")
		e.writeDisk("a.txt", []byte("hello"))
		f, err := os.Open(e.path("a.txt"))
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- e.ob.Flushed(id, f) }()

		<-g.started
		synctest.Wait() // everything else is blocked: on the data sync
		assert.Equal(t, 1, g.dirCount(), "the folder is synced while the data sync runs")
		_, err = e.idx.GetUpload(testApp, "a.txt")
		assert.ErrorIs(t, err, index.ErrNotFound, "no queue entry before the data is synced")
		select {
		case err := <-done:
			t.Fatalf("close returned before the data sync: %v", err)
		default:
		}

		close(g.release)
		err = <-done
		e.ob.Closed(id)
		require.NoError(t, f.Close())
		state, _, ok := e.ob.State("a.txt")
		require.True(t, ok)
		if fail {
			assert.Error(t, err)
			assert.Equal(t, core.StateFailed, state)
		} else {
			assert.NoError(t, err)
			assert.Equal(t, core.StateWaiting, state)
		}
	}
}
