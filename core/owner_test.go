package core_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// TestMain fails the package if a goroutine (an uploader, a prefetch, a
// probe, a fill) outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Close cancels a lookup of an unknown uuid blocked in the server and
// waits for it: whatever the probe writes to the index lands before Close
// returns, so the index can be closed right after.
func TestCloseCancelsAndWaitsForProbes(t *testing.T) {
	fr := newFakeRemote()
	fr.files[uuidA] = []byte("bytes of a")
	blocked, cancelled := make(chan struct{}), make(chan struct{})
	fr.onDownload = func(ctx context.Context, req remote.DownloadRequest) error {
		if req.UUID != uuidA {
			return nil
		}
		close(blocked)
		<-ctx.Done()
		close(cancelled)
		// The answer raced the cancellation: the probe records the file,
		// which must happen before Close returns.
		return nil
	}
	e := newEnv(t, fr, nil)
	e.start()

	lookup := make(chan error, 1)
	go func() {
		_, err := e.app.Lookup(context.Background(), uuidA)
		lookup <- err
	}()
	<-blocked
	e.app.Close(0)
	select {
	case <-cancelled:
	default:
		t.Fatal("Close returned without cancelling the probe")
	}
	_, err := e.idx.Get(testApp, uuidA)
	require.NoError(t, err, "the probe's write landed before Close returned")
	<-lookup
	_, err = e.app.Lookup(context.Background(), uuidB)
	assert.ErrorIs(t, err, core.ErrClosed, "no probe starts after Close")
	require.NoError(t, e.cache.Close())
	require.NoError(t, e.idx.Close())
	goleak.VerifyNone(t)
}

// The memory of 404s is bounded: past NegativeMax uuids, the least
// recently asked is forgotten and asked of the server again.
func TestNegativeCacheIsBounded(t *testing.T) {
	t.Parallel()
	fr := newFakeRemote()
	e := newEnv(t, fr, func(o *core.Options) { o.NegativeMax = 2 })
	ctx := context.Background()
	uuids := []string{uuidA, uuidB, "7bc74830-5796-11e9-9ed2-2b3b4c4a1e5f"}
	for _, u := range uuids {
		_, err := e.app.Lookup(ctx, u)
		require.ErrorIs(t, err, core.ErrNotExist)
	}
	require.Equal(t, 3, fr.downloadCount())
	for _, u := range uuids[1:] {
		_, err := e.app.Lookup(ctx, u)
		require.ErrorIs(t, err, core.ErrNotExist)
	}
	assert.Equal(t, 3, fr.downloadCount(), "the two most recent 404s are remembered")
	_, err := e.app.Lookup(ctx, uuidA)
	require.ErrorIs(t, err, core.ErrNotExist)
	assert.Equal(t, 4, fr.downloadCount(), "the oldest was forgotten and asked again")
	_, err = e.idx.Get(testApp, uuidA)
	assert.ErrorIs(t, err, index.ErrNotFound)
}
