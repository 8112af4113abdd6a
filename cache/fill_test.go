package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const key = "5fd74830-1a2b-11e9-8f0e-8d3c6f3d5e7a"

func TestFillThenHit(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	data := randBytes(300_000)
	f := &fake{data: data}

	h, err := c.Open(ctx, key, int64(len(data)), f.fetch)
	require.NoError(t, err)
	got, err := readAll(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.True(t, h.Complete())
	assert.Equal(t, int64(len(data)), h.Size())
	file, ok := h.File()
	require.True(t, ok)
	fi, err := file.Stat()
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), fi.Size())
	require.NoError(t, h.Close())
	assert.ErrorIs(t, h.Close(), os.ErrClosed)

	assert.True(t, c.Has(key))
	assert.Equal(t, []string{key}, dirNames(t, c.dir))
	fi, err = os.Stat(c.path(key))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(c.dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())

	h, err = c.Open(ctx, key, -1, noFetch(t))
	require.NoError(t, err)
	defer h.Close()
	got, err = readAll(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	s := c.Stats()
	assert.Equal(t, Stats{Fills: 1, Fetches: 1, Hits: 1, Downloaded: int64(len(data)),
		Bytes: int64(len(data)), Files: 1}, s)
	n, ok := c.SizeOf(key)
	assert.True(t, ok)
	assert.Equal(t, int64(len(data)), n)
}

// pipeFetcher serves one body written by the test through a pipe.
func pipeFetcher(size int64) (Fetcher, *io.PipeWriter, *int) {
	pr, pw := io.Pipe()
	calls := 0
	var mu sync.Mutex
	return func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return pr, 0, size, nil
	}, pw, &calls
}

func TestReadBeforeComplete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil)
		data := randBytes(1 << 20)
		fetch, pw, _ := pipeFetcher(int64(len(data)))
		h, err := c.Open(ctx, key, -1, fetch)
		require.NoError(t, err)
		defer h.Close()

		half := len(data) / 2
		go func() { _, _ = pw.Write(data[:half]) }()
		p := make([]byte, half)
		n, err := h.ReadAt(ctx, p, 0) // returns while the second half is blocked
		require.NoError(t, err)
		assert.Equal(t, half, n)
		assert.Equal(t, data[:half], p)
		assert.False(t, h.Complete())
		assert.False(t, c.Has(key))
		_, ok := h.File()
		assert.False(t, ok)
		assert.Equal(t, int64(len(data)), h.Size())
		n2, ok := c.SizeOf(key)
		assert.True(t, ok)
		assert.Equal(t, int64(len(data)), n2)
		size, err := h.WaitSize(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), size)

		done := make(chan struct{})
		go func() {
			defer close(done)
			q := make([]byte, len(data)-half+10)
			n, err := h.ReadAt(ctx, q, int64(half))
			assert.ErrorIs(t, err, io.EOF)
			assert.Equal(t, len(data)-half, n)
			assert.Equal(t, data[half:], q[:n])
		}()
		synctest.Wait() // the reader is blocked, or has returned
		select {
		case <-done:
			t.Fatal("read of the second half returned before it was written")
		default:
		}
		_, _ = pw.Write(data[half:])
		require.NoError(t, pw.Close())
		<-done
		assert.True(t, h.Complete())
		assert.True(t, c.Has(key))
	})
}

func TestConcurrentReadersFetchOnce(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	data := randBytes(600_000)
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	fetch := func(ctx context.Context, off int64) (io.ReadCloser, int64, int64, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		<-release
		return (&fake{data: data}).fetch(ctx, off)
	}
	var opened, wg sync.WaitGroup
	for range 8 {
		opened.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := c.Open(ctx, key, int64(len(data)), fetch)
			opened.Done()
			if !assert.NoError(t, err) {
				return
			}
			defer h.Close()
			got, err := readAll(ctx, h)
			assert.NoError(t, err)
			assert.Equal(t, data, got)
		}()
	}
	opened.Wait()
	close(release)
	wg.Wait()
	assert.Equal(t, 1, calls)
	s := c.Stats()
	assert.Equal(t, int64(1), s.Fills)
	assert.Equal(t, int64(7), s.Joins)
	assert.Equal(t, int64(1), s.Fetches)
}

// In a bubble: synctest.Wait() proves reader A is blocked in ReadAt
// before it is cancelled.
func TestCancelledReaderDoesNotAbortFill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, nil)
		data := randBytes(500_000)
		fetch, pw, _ := pipeFetcher(int64(len(data)))
		var fetchCtx context.Context
		wrapped := func(ctx context.Context, off int64) (io.ReadCloser, int64, int64, error) {
			fetchCtx = ctx
			return fetch(ctx, off)
		}
		ctxA, cancelA := context.WithCancel(context.Background())
		a, err := c.Open(ctxA, key, -1, wrapped) // A starts the fill
		require.NoError(t, err)
		defer a.Close()
		b, err := c.Open(context.Background(), key, -1, wrapped)
		require.NoError(t, err)
		defer b.Close()

		_, _ = pw.Write(data[:1000])
		errA := make(chan error)
		go func() {
			_, err := a.ReadAt(ctxA, make([]byte, 2000), 0)
			errA <- err
		}()
		synctest.Wait() // A waits for bytes the fill has not yet
		cancelA()
		assert.ErrorIs(t, <-errA, context.Canceled)

		go func() {
			_, _ = pw.Write(data[1000:])
			_ = pw.Close()
		}()
		got, err := readAll(context.Background(), b)
		require.NoError(t, err)
		assert.Equal(t, data, got)
		assert.True(t, c.Has(key))
		require.NotNil(t, fetchCtx)
		assert.NoError(t, fetchCtx.Err())
		// A's handle still reads, with a live context.
		p := make([]byte, 10)
		_, err = a.ReadAt(context.Background(), p, 100)
		require.NoError(t, err)
		assert.Equal(t, data[100:110], p)
	})
}

func TestRetryAtOffset(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		name := map[bool]string{false: "range honoured", true: "range ignored"}[ignore]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newCache(t, nil)
			data := randBytes(1000)
			cuts := []int{300, 500, -1} // bytes of each body
			if !ignore {
				cuts = []int{300, 200, -1}
			}
			f := &fake{data: data, ignoreRange: ignore, cut: func(call int) int { return cuts[call] }}
			h, err := c.Open(ctx, key, -1, f.fetch)
			require.NoError(t, err)
			defer h.Close()
			got, err := readAll(ctx, h)
			require.NoError(t, err)
			assert.Equal(t, data, got)
			assert.Equal(t, []int64{0, 300, 500}, f.calls())
			assert.True(t, c.Has(key))
			assert.Equal(t, int64(1000), c.Stats().Downloaded)
		})
	}
}

func TestRangeIgnoredSizeChanged(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	data := randBytes(1000)
	f := &fake{data: data, ignoreRange: true,
		cut:      func(call int) int { return []int{300, -1}[call] },
		announce: func(call int) int64 { return []int64{1000, 1200}[call] }}
	h, err := c.Open(ctx, key, -1, f.fetch)
	require.NoError(t, err)
	defer h.Close()
	_, err = readAll(ctx, h)
	assert.ErrorIs(t, err, ErrSizeMismatch)
	assert.False(t, c.Has(key))
	assert.Empty(t, dirNames(t, c.dir))
}

func TestPersistentTruncation(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, func(o *Options) { o.FillAttempts = 3 })
	data := randBytes(1000)
	f := &fake{data: data, cut: func(int) int { return 100 }}
	h, err := c.Open(ctx, key, int64(len(data)), f.fetch)
	require.NoError(t, err)
	_, err = readAll(ctx, h)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, []int64{0, 100, 200}, f.calls())
	// Bytes received before the failure stay readable on this handle.
	p := make([]byte, 50)
	n, err := h.ReadAt(ctx, p, 280)
	assert.Equal(t, 20, n)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, data[280:300], p[:n])
	assert.False(t, h.Complete())
	_, err = h.WaitSize(ctx)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.False(t, c.Has(key))
	assert.Empty(t, dirNames(t, c.dir))

	// The next Open starts a fresh fill, even with the failed handle open.
	good := &fake{data: data}
	h2, err := c.Open(ctx, key, int64(len(data)), good.fetch)
	require.NoError(t, err)
	got, err := readAll(ctx, h2)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, []int64{0}, good.calls())
	require.NoError(t, h.Close())
	require.NoError(t, h2.Close())
	assert.True(t, c.Has(key))
	assert.Equal(t, int64(2), c.Stats().Fills)
}

func TestSizeMismatch(t *testing.T) {
	data := randBytes(1000)
	for _, tc := range []struct {
		name     string
		openSize int64
		announce int64
		body     []byte
	}{
		{"more bytes than announced", -1, 900, data},
		{"fewer bytes than announced", -1, 1100, data},
		{"fewer bytes than the opener said", 1100, -1, data},
		{"more bytes than the opener said", 900, -1, data},
		{"announcement differs from the opener", 1000, 1200, data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCache(t, nil)
			f := &fake{data: tc.body, announce: func(int) int64 { return tc.announce }}
			h, err := c.Open(ctx, key, tc.openSize, f.fetch)
			require.NoError(t, err)
			_, err = readAll(ctx, h)
			assert.ErrorIs(t, err, ErrSizeMismatch)
			assert.Len(t, f.calls(), 1, "a mismatch is not retried")
			require.NoError(t, h.Close())
			assert.False(t, c.Has(key))
			assert.Empty(t, dirNames(t, c.dir))
			b, n := c.Usage()
			assert.Zero(t, b)
			assert.Zero(t, n)
		})
	}
}

// codeError is a typed error, as remote's would be.
type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("status %d", e.code) }

func TestFetchErrors(t *testing.T) {
	ctx := context.Background()
	retryable := func(err error) bool {
		var ce *codeError
		return errors.As(err, &ce) && ce.code >= 500
	}
	t.Run("not retryable", func(t *testing.T) {
		c := newCache(t, func(o *Options) { o.Retryable = retryable })
		f := &fake{err: &codeError{404}}
		h, err := c.Open(ctx, key, -1, f.fetch)
		require.NoError(t, err)
		defer h.Close()
		_, err = h.WaitSize(ctx)
		var ce *codeError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 404, ce.code)
		_, err = h.ReadAt(ctx, make([]byte, 1), 0)
		assert.ErrorAs(t, err, &ce)
		assert.Len(t, f.calls(), 1)
	})
	t.Run("retryable then gone", func(t *testing.T) {
		c := newCache(t, func(o *Options) { o.Retryable = retryable })
		f := &fake{err: &codeError{503}}
		h, err := c.Open(ctx, key, -1, f.fetch)
		require.NoError(t, err)
		defer h.Close()
		_, err = h.ReadAt(ctx, make([]byte, 1), 0)
		var ce *codeError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 503, ce.code)
		assert.Len(t, f.calls(), 1, "the Fetcher's client retries; the cache does not retry around it")
	})
	t.Run("body error not retryable", func(t *testing.T) {
		c := newCache(t, nil)
		boom := errors.New("boom")
		data := randBytes(100)
		fetch := func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
			return io.NopCloser(&cutReader{r: nil, left: 0, err: boom}), 0, int64(len(data)), nil
		}
		h, err := c.Open(ctx, key, -1, fetch)
		require.NoError(t, err)
		defer h.Close()
		_, err = h.ReadAt(ctx, make([]byte, 1), 0)
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, int64(1), c.Stats().Fetches)
	})
	t.Run("body error after the last byte", func(t *testing.T) {
		c := newCache(t, nil)
		data := randBytes(100)
		f := &fake{data: data, cut: func(int) int { return 100 }}
		h, err := c.Open(ctx, key, -1, f.fetch)
		require.NoError(t, err)
		defer h.Close()
		got, err := readAll(ctx, h)
		require.NoError(t, err)
		assert.Equal(t, data, got)
		assert.Len(t, f.calls(), 1)
	})
}

func TestReadAtOffsets(t *testing.T) {
	ctx := context.Background()
	data := randBytes(100_000)
	check := func(t *testing.T, h *Handle) {
		for _, off := range []int64{0, 1, 4095, 4096, 50_000, 77_777, 99_000} {
			p := make([]byte, 1000)
			n, err := h.ReadAt(ctx, p, off)
			require.NoError(t, err, "off %d", off)
			assert.Equal(t, 1000, n)
			assert.Equal(t, data[off:off+1000], p)
		}
		p := make([]byte, 1000)
		n, err := h.ReadAt(ctx, p, 99_500) // straddles the end
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, 500, n)
		assert.Equal(t, data[99_500:], p[:n])
		for _, off := range []int64{100_000, 100_001, 1 << 40} {
			n, err = h.ReadAt(ctx, p, off)
			assert.ErrorIs(t, err, io.EOF, "off %d", off)
			assert.Zero(t, n)
		}
		n, err = h.ReadAt(ctx, p[:0], 10)
		assert.NoError(t, err)
		assert.Zero(t, n)
		_, err = h.ReadAt(ctx, p, -1)
		assert.Error(t, err)
	}
	c := newCache(t, func(o *Options) { o.FillAttempts, o.Backoff = 20, time.Microsecond })
	// While filling, from a body that arrives in small pieces.
	f := &fake{data: data, cut: func(int) int { return 9_999 }}
	h, err := c.Open(ctx, key, -1, f.fetch)
	require.NoError(t, err)
	check(t, h)
	require.NoError(t, h.Close())
	assert.Len(t, f.calls(), 11)
	// Complete.
	h, err = c.Open(ctx, key, -1, noFetch(t))
	require.NoError(t, err)
	check(t, h)
	require.NoError(t, h.Close())
	_, err = h.ReadAt(ctx, make([]byte, 1), 0)
	assert.ErrorIs(t, err, os.ErrClosed)
}

func TestUnknownAndEmptySize(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	data := randBytes(5000)
	body, pw, _ := pipeFetcher(-1)
	calls := 0
	fetch := func(ctx context.Context, off int64) (io.ReadCloser, int64, int64, error) {
		if calls++; calls == 1 {
			return body(ctx, off)
		}
		// The confirmation of the size nobody announced.
		return io.NopCloser(bytes.NewReader(data[off:])), off, int64(len(data)), nil
	}
	h, err := c.Open(ctx, key, -1, fetch)
	require.NoError(t, err)
	defer h.Close()
	assert.Equal(t, int64(-1), h.Size())
	n, err := h.WaitSize(ctx) // answered, size unknown
	require.NoError(t, err)
	assert.Equal(t, int64(-1), n)
	go func() {
		_, _ = pw.Write(data)
		_ = pw.Close()
	}()
	got, err := readAll(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, int64(len(data)), h.Size())
	n, err = h.WaitSize(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)

	const empty = "empty"
	e := &fake{data: nil}
	h2, err := c.Open(ctx, empty, -1, e.fetch)
	require.NoError(t, err)
	defer h2.Close()
	got, err = readAll(ctx, h2)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.True(t, h2.Complete())
	assert.True(t, c.Has(empty))
}

func TestWaitSizeContext(t *testing.T) {
	c := newCache(t, nil)
	block := make(chan struct{})
	defer close(block)
	fetch := func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
		<-block
		return nil, 0, 0, errors.New("late")
	}
	h, err := c.Open(context.Background(), key, 10, fetch)
	require.NoError(t, err)
	defer h.Close()
	assert.Equal(t, int64(10), h.Size())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = h.WaitSize(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = h.ReadAt(ctx, make([]byte, 1), 0)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// A body that ends cleanly (HTTP/1.0 without Content-Length closed early, a
// clean chunked end) when nobody announced a size is not complete until one
// more answer announces a size equal to the bytes received.
func TestCleanEndOfUnknownSizeIsConfirmed(t *testing.T) {
	data := randBytes(10_000)
	for _, tc := range []struct {
		name    string
		body    int   // bytes the first body gives before a clean end
		confirm int64 // size the confirming answer announces
		want    error // nil: complete
	}{
		{"whole body, size confirmed", len(data), int64(len(data)), nil},
		{"cut body, true size announced", 4000, int64(len(data)), ErrSizeMismatch},
		{"whole body, no size ever", len(data), -1, ErrSizeUnconfirmed},
		{"cut body, no size ever", 4000, -1, ErrSizeUnconfirmed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCache(t, nil)
			var mu sync.Mutex
			var offsets []int64
			fetch := func(_ context.Context, off int64) (io.ReadCloser, int64, int64, error) {
				mu.Lock()
				offsets = append(offsets, off)
				n := len(offsets)
				mu.Unlock()
				if n == 1 {
					return io.NopCloser(bytes.NewReader(data[:tc.body])), 0, -1, nil
				}
				return io.NopCloser(bytes.NewReader(data[off:])), off, tc.confirm, nil
			}
			h, err := c.Open(ctx, key, -1, fetch)
			require.NoError(t, err)
			got, err := readAll(ctx, h)
			require.NoError(t, h.Close())
			mu.Lock()
			assert.Equal(t, []int64{0, int64(tc.body - 1)}, offsets, "one more fetch, of the last byte")
			mu.Unlock()
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
				assert.False(t, c.Has(key), "never cached as complete")
				assert.Empty(t, dirNames(t, c.dir))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, data, got)
			assert.True(t, c.Has(key))
		})
	}
}
