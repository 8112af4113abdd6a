package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine (a fill) outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// blockingFetcher answers each fetch only once released (or its context
// ends), and counts the fetches in flight.
type blockingFetcher struct {
	release chan struct{} // closed to let every fetch answer
	data    []byte

	mu       sync.Mutex
	inFlight int
	most     int
	started  chan struct{} // receives one value per fetch started
	ctxErrs  []error       // the cause each cancelled fetch saw
}

func newBlockingFetcher(data []byte) *blockingFetcher {
	return &blockingFetcher{release: make(chan struct{}), data: data, started: make(chan struct{}, 100)}
}

func (b *blockingFetcher) fetch(ctx context.Context, off int64) (io.ReadCloser, int64, int64, error) {
	b.mu.Lock()
	b.inFlight++
	b.most = max(b.most, b.inFlight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}()
	b.started <- struct{}{}
	select {
	case <-b.release:
		return io.NopCloser(strings.NewReader(string(b.data[off:]))), off, int64(len(b.data)), nil
	case <-ctx.Done():
		b.mu.Lock()
		b.ctxErrs = append(b.ctxErrs, context.Cause(ctx))
		b.mu.Unlock()
		return nil, 0, 0, ctx.Err()
	}
}

// Close cancels a fill blocked in the server, waits for it, and refuses
// later Opens; the reader gets an error instead of hanging.
func TestCloseCancelsAndWaitsForFills(t *testing.T) {
	c := newCache(t, nil)
	bf := newBlockingFetcher([]byte("hello"))
	h, err := c.Open(context.Background(), key, -1, bf.fetch)
	require.NoError(t, err)
	defer h.Close()
	<-bf.started

	require.NoError(t, c.Close())
	bf.mu.Lock()
	assert.Equal(t, []error{ErrClosed}, bf.ctxErrs, "the fetch saw Close's cancellation")
	assert.Zero(t, bf.inFlight, "Close returned with the fetch still running")
	bf.mu.Unlock()
	_, err = h.Wait(context.Background())
	assert.Error(t, err)
	assert.False(t, c.Has(key))
	_, err = c.Open(context.Background(), key, -1, bf.fetch)
	assert.ErrorIs(t, err, ErrClosed)
	require.NoError(t, c.Close(), "a second Close does nothing")
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}

// At most MaxDownloads fills download at once; the others queue, a reader
// of a queued fill can leave on its own context, and every fill completes
// once slots free up.
func TestMaxDownloadsQueuesFills(t *testing.T) {
	const limit, keys = 2, 6
	c := newCache(t, func(o *Options) { o.MaxDownloads = limit })
	bf := newBlockingFetcher([]byte("some bytes"))
	var hs []*Handle
	for i := range keys {
		h, err := c.Open(context.Background(), fmt.Sprintf("key-%d", i), -1, bf.fetch)
		require.NoError(t, err)
		hs = append(hs, h)
	}
	for range limit {
		<-bf.started
	}
	require.Eventually(t, func() bool { return c.Stats().Queued == keys-limit }, 5*time.Second, time.Millisecond)
	select {
	case <-bf.started:
		t.Fatalf("a fetch beyond MaxDownloads=%d started", limit)
	default:
	}

	// A reader of a queued fill is not stuck behind the queue.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := hs[keys-1].ReadAt(ctx, make([]byte, 4), 0)
	assert.ErrorIs(t, err, context.Canceled)

	close(bf.release)
	for _, h := range hs {
		n, err := h.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, int64(len(bf.data)), n)
		require.NoError(t, h.Close())
	}
	bf.mu.Lock()
	assert.Equal(t, limit, bf.most, "fetches in flight at once")
	bf.mu.Unlock()
	assert.Equal(t, int64(keys), c.Stats().Fetches)
}

// A fill queued behind MaxDownloads ends with ErrClosed at Close, without
// ever fetching.
func TestCloseEndsQueuedFills(t *testing.T) {
	c := newCache(t, func(o *Options) { o.MaxDownloads = 1 })
	bf := newBlockingFetcher([]byte("x"))
	a, err := c.Open(context.Background(), "key-a", -1, bf.fetch)
	require.NoError(t, err)
	defer a.Close()
	<-bf.started
	b, err := c.Open(context.Background(), "key-b", -1, bf.fetch)
	require.NoError(t, err)
	defer b.Close()
	require.Eventually(t, func() bool { return c.Stats().Queued == 1 }, 5*time.Second, time.Millisecond)

	require.NoError(t, c.Close())
	_, err = b.Wait(context.Background())
	assert.True(t, errors.Is(err, ErrClosed), "queued fill's error: %v", err)
	assert.Equal(t, int64(1), c.Stats().Fetches, "the queued fill never fetched")
}
