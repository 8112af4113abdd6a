package thumbs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestURI(t *testing.T) {
	for path, want := range map[string]string{
		"/mnt/demo/files/5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f": "file:///mnt/demo/files/5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f",
		"/m/by-name/photo (2).jpg":                             "file:///m/by-name/photo%20(2).jpg",
		"/m/a#b%c?d;e[f]g{h}|^`\"<>\\":                         "file:///m/a%23b%25c%3Fd%3Be%5Bf%5Dg%7Bh%7D%7C%5E%60%22%3C%3E%5C",
		"/m/!$&'()*+,-.:=@_~":                                  "file:///m/!$&'()*+,-.:=@_~",
		"/m/café.jpg":                                          "file:///m/caf%C3%A9.jpg",
		"/m/\x01\xff":                                          "file:///m/%01%FF",
	} {
		assert.Equal(t, want, URI(path), path)
	}
	sum := md5.Sum([]byte("file:///home/jens/photos/me.png"))
	assert.Equal(t, hex.EncodeToString(sum[:])+".png", Name("file:///home/jens/photos/me.png"))
	// The standard's own example.
	assert.Equal(t, "c6ee772d9e49320e97ec29a7eb5b1697.png", Name("file:///home/jens/photos/me.png"))
}

func TestDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	d, err := Dir()
	require.NoError(t, err)
	assert.Equal(t, "/x/cache/thumbnails", d)
	t.Setenv("XDG_CACHE_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	d, err = Dir()
	require.NoError(t, err)
	assert.Equal(t, "/home/u/.cache/thumbnails", d, "a relative XDG_CACHE_HOME is ignored")
}

func TestFit(t *testing.T) {
	for _, c := range []struct{ w, h, ww, wh int }{
		{170, 170, 128, 128}, {400, 300, 128, 96}, {300, 400, 96, 128}, {64, 32, 64, 32},
		{128, 128, 128, 128}, {5000, 10, 128, 1}, {1, 1, 1, 1},
	} {
		w, h := fit(c.w, c.h, NormalSize)
		assert.Equal(t, [2]int{c.ww, c.wh}, [2]int{w, h}, "%dx%d", c.w, c.h)
	}
}

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 99, 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, nil))
	return b.Bytes()
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))))
	return b.Bytes()
}

// source serves fixed bytes and counts fetches; gate, if set, blocks them.
type source struct {
	data  []byte
	err   error
	gate  chan struct{}
	calls atomic.Int32
}

func (s *source) fetch(ctx context.Context) ([]byte, error) {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.data, s.err
}

func newCache(t *testing.T) (*Cache, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache", "thumbnails")
	c, err := New(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, dir
}

// idle waits until no item is pending or being made.
func (c *Cache) idle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := c.running
		c.mu.Unlock()
		if n == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "workers still running")
		time.Sleep(2 * time.Millisecond)
	}
}

var mtime = time.Date(2025, 3, 1, 12, 0, 0, 700_000_000, time.UTC)

func TestWritesPerStandard(t *testing.T) {
	c, dir := newCache(t)
	src := &source{data: jpegOf(t, 400, 300)}
	path := "/mnt/demo/by-name/photo (2).jpg"
	c.Offer([]Item{{Path: path, MTime: mtime, Size: 12345, MIME: "image/jpeg", Fetch: src.fetch}})
	c.idle(t)

	file := filepath.Join(dir, "normal", Name(URI(path)))
	assert.Equal(t, file, c.File(path))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 128, 96), img.Bounds(), "fits 128 px, aspect kept")
	text, err := ReadText(file)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		KeyURI:   "file:///mnt/demo/by-name/photo%20(2).jpg",
		KeyMTime: "1740830400", // whole seconds, as st_mtime
		KeySize:  "12345",
		KeyMime:  "image/jpeg",
	}, text)

	for p, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700, dir: 0o700} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, want, st.Mode().Perm(), p)
	}
	ents, err := os.ReadDir(filepath.Dir(file))
	require.NoError(t, err)
	assert.Len(t, ents, 1, "no temp file left")
}

func TestSmallThumbnailIsNotEnlargedAndSizeUnknownIsLeftOut(t *testing.T) {
	c, _ := newCache(t)
	src := &source{data: pngOf(t, 40, 20)}
	c.Offer([]Item{{Path: "/m/files/x.thumb", MTime: mtime, Size: -1, Fetch: src.fetch}})
	c.idle(t)
	b, err := os.ReadFile(c.File("/m/files/x.thumb"))
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, [2]int{40, 20}, [2]int{cfg.Width, cfg.Height})
	text, err := ReadText(c.File("/m/files/x.thumb"))
	require.NoError(t, err)
	assert.NotContains(t, text, KeySize)
	assert.NotContains(t, text, KeyMime)
}

func TestNoRewriteWhenUpToDate(t *testing.T) {
	c, dir := newCache(t)
	src := &source{data: jpegOf(t, 200, 200)}
	it := Item{Path: "/m/files/a", MTime: mtime, Size: 1, Fetch: src.fetch}
	c.Offer([]Item{it})
	c.idle(t)
	require.EqualValues(t, 1, src.calls.Load())
	st1, err := os.Stat(c.File(it.Path))
	require.NoError(t, err)

	// Offered again (the next listing): remembered, no fetch, no write.
	c.Offer([]Item{it, it})
	c.idle(t)
	assert.EqualValues(t, 1, src.calls.Load())

	// A new Cache (the next mount) reads the existing thumbnail's
	// Thumb::MTime and Thumb::URI and leaves it.
	c2, err := New(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer c2.Close()
	c2.Offer([]Item{it})
	c2.idle(t)
	assert.EqualValues(t, 1, src.calls.Load())
	st2, err := os.Stat(c.File(it.Path))
	require.NoError(t, err)
	assert.True(t, os.SameFile(st1, st2), "not rewritten")
	assert.Equal(t, Stats{UpToDate: 1}, c2.Stats())
	assert.Equal(t, Stats{Written: 1}, c.Stats())

	// Another mtime: made again.
	it.MTime = mtime.Add(time.Hour)
	c2.Offer([]Item{it})
	c2.idle(t)
	assert.EqualValues(t, 2, src.calls.Load())
	text, err := ReadText(c.File(it.Path))
	require.NoError(t, err)
	assert.Equal(t, "1740834000", text[KeyMTime])

	// A thumbnail of another URI under that name (a collision, or
	// garbage) is replaced.
	require.NoError(t, os.WriteFile(c.File("/m/files/b"), []byte("not a png"), 0o600))
	c2.Offer([]Item{{Path: "/m/files/b", MTime: mtime, Size: 1, Fetch: src.fetch}})
	c2.idle(t)
	text, err = ReadText(c.File("/m/files/b"))
	require.NoError(t, err)
	assert.Equal(t, URI("/m/files/b"), text[KeyURI])
}

func TestBadSourcesWriteNothing(t *testing.T) {
	c, dir := newCache(t)
	// A PNG whose header claims 5000×5000 pixels (a decompression bomb).
	huge := pngOf(t, 1, 1)
	binary.BigEndian.PutUint32(huge[16:], 5000)
	binary.BigEndian.PutUint32(huge[20:], 5000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	for i, src := range []*source{
		{err: errors.New("404 file_expired")},
		{data: []byte("<html>not an image</html>")},
		{data: jpegOf(t, 64, 64)[:100]},
		{data: huge},
		{data: bytes.Repeat([]byte{0}, maxSourceBytes+1)},
	} {
		p := filepath.Join("/m/files", string(rune('a'+i)))
		c.Offer([]Item{{Path: p, MTime: mtime, Fetch: src.fetch}})
	}
	c.idle(t)
	_, err := os.Stat(filepath.Join(dir, "normal"))
	assert.True(t, os.IsNotExist(err), "nothing written, not even the folder")
}

func TestDedupeBoundAndClose(t *testing.T) {
	c, _ := newCache(t)
	src := &source{data: pngOf(t, 8, 8), gate: make(chan struct{})}
	var items []Item
	for i := range 10 {
		items = append(items, Item{Path: filepath.Join("/m/files", string(rune('a'+i))), MTime: mtime, Fetch: src.fetch})
	}
	c.Offer(items)
	c.Offer(items) // the same paths, waiting or in flight: not queued twice
	for src.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	assert.Len(t, c.pending, 10-2, "two being fetched, eight waiting")
	assert.LessOrEqual(t, c.running, 2, "a small pool")
	c.mu.Unlock()

	// Close cancels the fetches in flight and waits for the workers.
	c.Close()
	c.mu.Lock()
	assert.Zero(t, c.running)
	c.mu.Unlock()
	c.Offer(items)
	c.mu.Lock()
	assert.Empty(t, c.pending, "offers after Close are ignored")
	c.mu.Unlock()

	// The queue is bounded.
	b, err := New(Options{Dir: t.TempDir(), Queue: 3, Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	gate := &source{data: pngOf(t, 8, 8), gate: make(chan struct{})}
	var many []Item
	for i := range 10 {
		many = append(many, Item{Path: filepath.Join("/m", string(rune('a'+i))), MTime: mtime, Fetch: gate.fetch})
	}
	b.Offer(many)
	var wg sync.WaitGroup
	wg.Go(func() {
		for gate.calls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	b.mu.Lock()
	assert.LessOrEqual(t, len(b.pending), 3)
	b.mu.Unlock()
	close(gate.gate)
	b.idle(t)
	b.Close()
	assert.LessOrEqual(t, gate.calls.Load(), int32(3))
}

func TestNewRefusesRelativeDir(t *testing.T) {
	_, err := New(Options{Dir: "thumbnails"})
	assert.Error(t, err)
}

// A cache that belongs to another user is refused (a root chatfs with a
// user's HOME would leave that user thumbnails they cannot read).
func TestRefusesAnotherUsersCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a folder of another user")
	}
	home := t.TempDir()
	require.NoError(t, os.Chown(home, 12345, 12345))
	_, err := New(Options{Dir: filepath.Join(home, ".cache", "thumbnails")})
	assert.ErrorContains(t, err, "uid 12345")
	// A sticky shared folder (/tmp) is fine: the folders made in it are ours.
	shared := t.TempDir()
	require.NoError(t, os.Chmod(shared, 0o777|os.ModeSticky))
	require.NoError(t, os.Chown(shared, 12345, 12345))
	c, err := New(Options{Dir: filepath.Join(shared, "cache", "thumbnails")})
	require.NoError(t, err)
	c.Close()
}

// A thumbnail that could not be made is tried again, but not before
// retryFailed has passed.
func TestFailedIsRetriedLater(t *testing.T) {
	var now atomic.Int64
	now.Store(mtime.UnixNano())
	c, err := New(Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return time.Unix(0, now.Load()) }})
	require.NoError(t, err)
	defer c.Close()
	src := &source{err: errors.New("503")}
	it := Item{Path: "/m/a", MTime: mtime, Fetch: src.fetch}
	c.Offer([]Item{it})
	c.idle(t)
	c.Offer([]Item{it})
	c.idle(t)
	assert.EqualValues(t, 1, src.calls.Load(), "not again at once")
	now.Add(int64(retryFailed))
	src.err, src.data = nil, pngOf(t, 8, 8)
	c.Offer([]Item{it})
	c.idle(t)
	assert.EqualValues(t, 2, src.calls.Load())
	_, err = os.Stat(c.File(it.Path))
	assert.NoError(t, err)
}
