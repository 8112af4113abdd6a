package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

const (
	uuidA = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"
	uuidB = "6ab74830-5796-11e9-9ed2-2b3b4c4a1e5f"
)

// readAll reads an entry through App.Open.
func readAll(t *testing.T, a *core.App, e core.Entry) ([]byte, error) {
	t.Helper()
	h, err := a.Open(context.Background(), e)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var buf bytes.Buffer
	p := make([]byte, 1000)
	for off := int64(0); ; {
		n, err := h.ReadAt(context.Background(), p, off)
		buf.Write(p[:n])
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return buf.Bytes(), err
		}
	}
}

// Names of files/ that are not uuids answer ErrNotExist without a request.
func TestLookupRejectsNonUUIDNames(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := newEnv(t, fr, nil)
		for _, name := range []string{
			"", "foo", "..", "../" + uuidA, uuidA + "/..", strings.ToUpper(uuidA),
			uuidA + ".THUMB", uuidA + ".thumb.thumb", uuidA[:35], uuidA + "\x00", ".thumb",
		} {
			_, err := e.app.Lookup(context.Background(), name)
			assert.ErrorIs(t, err, core.ErrNotExist, "%q", name)
		}
		assert.Zero(t, fr.downloadCount())
	})
}

// An unknown uuid is asked of the server once, however many look it up at
// the same time; the probe's body fills the cache, so reading the file
// costs no second download.
func TestLookupProbesUnknownUUIDOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		content := bytes.Repeat([]byte("some text, "), 300)
		fr.files[uuidA] = content
		g := newGate()
		fr.onDownload = func(ctx context.Context, _ remote.DownloadRequest) error { return g.wait(ctx) }
		e := newEnv(t, fr, nil)

		var wg sync.WaitGroup
		got := make([]core.Entry, 8)
		errs := make([]error, 8)
		for i := range got {
			wg.Go(func() { got[i], errs[i] = e.app.Lookup(context.Background(), uuidA) })
		}
		waitFor(t, func() bool { return fr.downloadCount() == 1 }, "the probe")
		synctest.Wait() // the other lookups have joined it
		g.open()
		wg.Wait()
		for i := range got {
			require.NoError(t, errs[i])
			assert.Equal(t, uuidA, got[i].File().UUID())
			assert.Equal(t, got[0].Ino(), got[i].Ino())
		}
		f, err := e.idx.Get(testApp, uuidA)
		require.NoError(t, err)
		assert.Contains(t, []int64{-1, int64(len(content))}, f.Size, "no size but one a completed download confirmed")
		assert.Empty(t, f.MIME, "the type is sniffed when asked for, not during the lookup")

		data, err := readAll(t, e.app, got[0])
		require.NoError(t, err)
		assert.Equal(t, content, data)
		again, err := e.app.Lookup(context.Background(), uuidA)
		require.NoError(t, err)
		assert.Equal(t, int64(len(content)), again.Record().Size, "recorded once the download completed")
		xs, err := e.app.Xattrs(context.Background(), again, true)
		require.NoError(t, err)
		assert.Contains(t, xs, core.Xattr{Name: "user.mime_type", Value: "text/plain; charset=utf-8"})
		f, err = e.idx.Get(testApp, uuidA)
		require.NoError(t, err)
		assert.Equal(t, int64(len(content)), f.Size)
		assert.Equal(t, "text/plain; charset=utf-8", f.MIME)
		assert.False(t, f.HasThumb)
		assert.Equal(t, 1, fr.downloadCount(), "probe, read and sniff share one download")
		_, err = e.app.Lookup(context.Background(), uuidA+core.ThumbSuffix)
		assert.ErrorIs(t, err, core.ErrNotExist, "text has no thumbnail")
	})
}

// A body cut short during the probe is resumed with a ranged request.
func TestLookupProbeResumesWithRange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		content := bytes.Repeat([]byte("0123456789"), 200)
		fr.files[uuidA] = content
		fr.ranges, fr.cutFirst = true, 700
		e := newEnv(t, fr, nil)

		entry, err := e.app.Lookup(context.Background(), uuidA)
		require.NoError(t, err)
		data, err := readAll(t, e.app, entry)
		require.NoError(t, err)
		assert.Equal(t, content, data)
		require.Equal(t, 2, fr.downloadCount())
		assert.Equal(t, int64(700), fr.downloads[1].Offset)
	})
}

// A probe whose body breaks before its first 512 bytes, with no size
// announced, must not record (and cache) the cut body as the whole file.
func TestLookupProbeCutBodyOfUnknownSize(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		content := bytes.Repeat([]byte("0123456789"), 200)
		fr.files[uuidA] = content
		fr.noSize, fr.cutFirst, fr.ranges = true, 100, true
		e := newEnv(t, fr, nil)

		entry, err := e.app.Lookup(context.Background(), uuidA)
		if err != nil {
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			entry, err = e.app.Lookup(context.Background(), uuidA) // a later lookup probes again
			require.NoError(t, err)
		}
		assert.NotEqual(t, int64(100), entry.Record().Size, "the cut body's length recorded as the size")
		data, err := readAll(t, e.app, entry)
		require.NoError(t, err)
		assert.Equal(t, content, data)
	})
}

// A 404 is remembered for NegativeTTL; other errors are not.
func TestLookupNegativeCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fail := true
		fr.onDownload = func(ctx context.Context, req remote.DownloadRequest) error {
			if req.UUID == uuidB && fail {
				return &remote.Error{Op: "download", Status: 503}
			}
			return nil
		}
		e := newEnv(t, fr, func(o *core.Options) { o.NegativeTTL = 30 * time.Second })
		ctx := context.Background()

		_, err := e.app.Lookup(ctx, uuidA)
		require.ErrorIs(t, err, core.ErrNotExist)
		_, err = e.app.Lookup(ctx, uuidA+core.ThumbSuffix)
		require.ErrorIs(t, err, core.ErrNotExist)
		assert.Equal(t, 1, fr.downloadCount())
		e.clock.advance(29 * time.Second)
		_, err = e.app.Lookup(ctx, uuidA)
		require.ErrorIs(t, err, core.ErrNotExist)
		assert.Equal(t, 1, fr.downloadCount())
		e.clock.advance(2 * time.Second)
		_, err = e.app.Lookup(ctx, uuidA)
		require.ErrorIs(t, err, core.ErrNotExist)
		assert.Equal(t, 2, fr.downloadCount(), "asked again once NegativeTTL passed")

		// A transient error is returned as is and not remembered.
		_, err = e.app.Lookup(ctx, uuidB)
		require.Error(t, err)
		assert.NotErrorIs(t, err, core.ErrNotExist)
		assert.True(t, remote.IsRetryable(err))
		fail = false
		fr.mu.Lock()
		fr.files[uuidB] = []byte("now here")
		fr.mu.Unlock()
		_, err = e.app.Lookup(ctx, uuidB)
		require.NoError(t, err)
		assert.Equal(t, 4, fr.downloadCount())
	})
}

// A download answered file_expired marks the record expired; it is then
// hidden while its bytes are not cached.
func TestOpenMarksExpired(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.onDownload = func(context.Context, remote.DownloadRequest) error {
			return &remote.Error{Op: "download", Status: 404, Code: remote.CodeExpired}
		}
		e := newEnv(t, fr, nil)
		require.NoError(t, e.idx.Put(&index.File{App: testApp, UUID: uuidA, Name: "old.txt", Size: 10}))
		ctx := context.Background()

		entry, err := e.app.Lookup(ctx, uuidA)
		require.NoError(t, err)
		_, err = readAll(t, e.app, entry)
		require.Error(t, err)
		assert.True(t, remote.IsExpired(err))

		f, err := e.idx.Get(testApp, uuidA)
		require.NoError(t, err)
		assert.True(t, f.Expired)
		_, err = e.app.Lookup(ctx, uuidA)
		assert.ErrorIs(t, err, core.ErrNotExist)
		_, err = e.app.LookupName("old.txt")
		assert.ErrorIs(t, err, core.ErrNotExist)
		var listed []string
		require.NoError(t, e.app.List(func(e core.Entry) error { listed = append(listed, e.Name()); return nil }))
		assert.Empty(t, listed)
	})
}

// Forget removes the record and the cached bytes of a file and its
// thumbnail.
func TestForgetRemovesRecordAndCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.files[uuidA] = pngBytes
		fr.files[uuidA+core.ThumbSuffix] = []byte("thumb")
		e := newEnv(t, fr, nil)
		ctx := context.Background()

		entry, err := e.app.Lookup(ctx, uuidA)
		require.NoError(t, err)
		_, err = readAll(t, e.app, entry)
		require.NoError(t, err)
		thumb, err := e.app.Lookup(ctx, uuidA+core.ThumbSuffix)
		require.NoError(t, err)
		_, err = readAll(t, e.app, thumb)
		require.NoError(t, err)
		require.True(t, e.cache.Has(uuidA))
		require.True(t, e.cache.Has(uuidA+core.ThumbSuffix))

		require.NoError(t, e.app.Forget(uuidA))
		_, err = e.idx.Get(testApp, uuidA)
		assert.ErrorIs(t, err, index.ErrNotFound)
		assert.False(t, e.cache.Has(uuidA))
		assert.False(t, e.cache.Has(uuidA+core.ThumbSuffix))

		assert.ErrorIs(t, e.app.Forget("not-a-uuid"), core.ErrNotExist)
		assert.ErrorIs(t, e.app.Forget(uuidB), index.ErrNotFound)
	})
}

// A thumbnail's size is true whenever it is given: its lookup fetches it
// (one download, shared through the cache with the reads that follow), so
// stat never says 0 bytes for it.
func TestThumbLookupKnowsItsSize(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.files[uuidA] = pngBytes
		fr.files[uuidA+core.ThumbSuffix] = []byte("the thumbnail")
		e := newEnv(t, fr, nil)
		ctx := context.Background()

		thumb, err := e.app.Lookup(ctx, uuidA+core.ThumbSuffix)
		require.NoError(t, err)
		assert.Equal(t, int64(len("the thumbnail")), size(e.app, thumb))
		got, err := readAll(t, e.app, thumb)
		require.NoError(t, err)
		assert.Equal(t, []byte("the thumbnail"), got)
		thumbs := 0
		for _, d := range fr.downloads {
			if d.Thumbnail {
				thumbs++
			}
		}
		assert.Equal(t, 1, thumbs, "lookup and read share one download")

		// Dropped from the cache: stat fetches it again rather than say 0.
		require.NoError(t, e.cache.Remove(uuidA+core.ThumbSuffix))
		n, final, err := e.app.Stat(ctx, thumb)
		require.NoError(t, err)
		assert.True(t, final)
		assert.Equal(t, int64(len("the thumbnail")), n)
	})
}
