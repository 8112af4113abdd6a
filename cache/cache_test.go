package cache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidKey(t *testing.T) {
	for _, k := range []string{key, key + ".thumb", "a", "0", "a-b.c", strings.Repeat("a", 100)} {
		assert.True(t, ValidKey(k), k)
	}
	for _, k := range []string{"", "../x", "A", "a/b", ".", "..", ".hidden", "a b", "a\x00", "é",
		strings.Repeat("a", 101), key + ".partial", key + ".tmp", `a\b`} {
		assert.False(t, ValidKey(k), "%q", k)
	}
}

func TestInvalidKeysRejected(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	src := filepath.Join(t.TempDir(), "up")
	require.NoError(t, os.WriteFile(src, []byte("x"), 0o600))
	for _, k := range []string{"../x", "A", "", "a/b", "x.partial"} {
		_, err := c.Open(ctx, k, -1, noFetch(t))
		assert.ErrorIs(t, err, ErrInvalidKey, "%q", k)
		assert.ErrorIs(t, c.Adopt(k, src), ErrInvalidKey, "%q", k)
		assert.ErrorIs(t, c.Remove(k), ErrInvalidKey, "%q", k)
		assert.False(t, c.Has(k))
		_, ok := c.SizeOf(k)
		assert.False(t, ok)
	}
	assert.Empty(t, dirNames(t, c.dir))
	assert.FileExists(t, src)
	assert.NoFileExists(t, filepath.Join(filepath.Dir(c.dir), "x"))
}

// adopt writes data to a file next to the cache and adopts it under k.
func adopt(t *testing.T, c *Cache, k string, data []byte) {
	t.Helper()
	src := filepath.Join(filepath.Dir(c.dir), "outbox-"+k)
	require.NoError(t, os.WriteFile(src, data, 0o644))
	require.NoError(t, c.Adopt(k, src))
	assert.NoFileExists(t, src)
}

func TestAdoptThenOpenNeedsNoFetch(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	data := randBytes(12345)
	adopt(t, c, key, data)
	assert.True(t, c.Has(key))
	fi, err := os.Stat(c.path(key))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, n := c.Usage()
	assert.Equal(t, int64(len(data)), b)
	assert.Equal(t, 1, n)

	h, err := c.Open(ctx, key, int64(len(data)), noFetch(t))
	require.NoError(t, err)
	got, err := readAll(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	require.NoError(t, h.Close())

	// Adopting a key already cached keeps the entry and drops the new file.
	adopt(t, c, key, []byte("other"))
	n2, ok := c.SizeOf(key)
	assert.True(t, ok)
	assert.Equal(t, int64(len(data)), n2)

	assert.Error(t, c.Adopt("missing", filepath.Join(t.TempDir(), "nope")))
	assert.False(t, c.Has("missing"))
}

func TestAdoptAcrossFilesystems(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "chatfs-cache-test-")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(shm) })
	c := newCache(t, nil)
	data := randBytes(70_000)
	src := filepath.Join(shm, "up")
	require.NoError(t, os.WriteFile(src, data, 0o600))
	require.NoError(t, c.Adopt(key, src))
	assert.NoFileExists(t, src)
	got, err := os.ReadFile(c.path(key))
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, []string{key}, dirNames(t, c.dir))
}

func TestEvictLRU(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := newCache(t, func(o *Options) { o.MaxBytes, o.Now = 300, clk.Now })
	chunk := randBytes(100)
	for _, k := range []string{"a", "b", "c"} {
		adopt(t, c, k, chunk)
		clk.tick()
	}
	// Reading a makes b the least recently used.
	h, err := c.Open(ctx, "a", -1, noFetch(t))
	require.NoError(t, err)
	require.NoError(t, h.Close())
	clk.tick()

	adopt(t, c, "d", chunk)
	assert.False(t, c.Has("b"))
	for _, k := range []string{"a", "c", "d"} {
		assert.True(t, c.Has(k), k)
	}
	assert.Equal(t, []string{"a", "c", "d"}, dirNames(t, c.dir))
	clk.tick()

	// c is now the oldest, but open: it is never evicted.
	hc, err := c.Open(ctx, "c", -1, noFetch(t))
	require.NoError(t, err)
	clk.tick()
	adopt(t, c, "e", chunk) // evicts a, the oldest idle
	assert.Equal(t, []string{"c", "d", "e"}, dirNames(t, c.dir))
	clk.tick()

	// A fill completing evicts too, never the entry just filled while open.
	f := &fake{data: randBytes(250)}
	hf, err := c.Open(ctx, "f", -1, f.fetch)
	require.NoError(t, err)
	_, err = readAll(ctx, hf)
	require.NoError(t, err)
	c.running.Wait() // the fill evicts after its readers see the end
	assert.Equal(t, []string{"c", "f"}, dirNames(t, c.dir))
	b, _ := c.Usage()
	assert.Equal(t, int64(350), b, "open entries may hold the cache over its bound")
	s := c.Stats()
	assert.Equal(t, int64(4), s.Evictions)

	// Over the bound with only open entries, until one closes.
	require.NoError(t, hc.Close())
	require.NoError(t, hf.Close())
	adopt(t, c, "g", chunk) // 450 bytes: c (oldest), then f go
	assert.Equal(t, []string{"g"}, dirNames(t, c.dir))
	assert.Equal(t, int64(6), c.Stats().Evictions)
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	t.Run("idle", func(t *testing.T) {
		c := newCache(t, nil)
		adopt(t, c, key, randBytes(10))
		require.NoError(t, c.Remove(key))
		assert.False(t, c.Has(key))
		assert.Empty(t, dirNames(t, c.dir))
		require.NoError(t, c.Remove(key), "removing twice is fine")
	})
	t.Run("while open", func(t *testing.T) {
		c := newCache(t, nil)
		data := randBytes(10_000)
		adopt(t, c, key, data)
		h, err := c.Open(ctx, key, -1, noFetch(t))
		require.NoError(t, err)
		require.NoError(t, c.Remove(key))
		assert.False(t, c.Has(key))
		got, err := readAll(ctx, h)
		require.NoError(t, err)
		assert.Equal(t, data, got)
		assert.FileExists(t, c.path(key))
		require.NoError(t, h.Close())
		assert.Empty(t, dirNames(t, c.dir))
		b, n := c.Usage()
		assert.Zero(t, b)
		assert.Zero(t, n)
	})
	t.Run("while filling", func(t *testing.T) {
		c := newCache(t, nil)
		data := randBytes(10_000)
		fetch, pw, _ := pipeFetcher(int64(len(data)))
		h, err := c.Open(ctx, key, -1, fetch)
		require.NoError(t, err)
		_, _ = pw.Write(data[:5000])
		require.NoError(t, c.Remove(key))
		go func() {
			_, _ = pw.Write(data[5000:])
			_ = pw.Close()
		}()
		got, err := readAll(ctx, h)
		require.NoError(t, err)
		assert.Equal(t, data, got)
		assert.False(t, c.Has(key))
		require.NoError(t, h.Close())
		assert.Empty(t, dirNames(t, c.dir))
	})
	t.Run("open again before the last close", func(t *testing.T) {
		c := newCache(t, nil)
		adopt(t, c, key, randBytes(10))
		h, err := c.Open(ctx, key, -1, noFetch(t))
		require.NoError(t, err)
		require.NoError(t, c.Remove(key))
		h2, err := c.Open(ctx, key, -1, noFetch(t))
		require.NoError(t, err)
		assert.True(t, c.Has(key))
		require.NoError(t, h.Close())
		require.NoError(t, h2.Close())
		assert.True(t, c.Has(key))
	})
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	clk := newClock()
	o := Options{Dir: dir, Now: clk.Now, Backoff: time.Millisecond}
	c, err := Open(o)
	require.NoError(t, err)
	data := randBytes(4096)
	f := &fake{data: data}
	h, err := c.Open(ctx, key, -1, f.fetch)
	require.NoError(t, err)
	_, err = readAll(ctx, h)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	adopt(t, c, "old", randBytes(100))
	adopt(t, c, "new", randBytes(100))
	past := clk.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "old"), past, past))

	// What a crash leaves behind.
	for _, name := range []string{"x.partial", key + ".thumb.partial", "y.tmp"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("not ours"), 0o600))

	o.MaxBytes = 4096 + 100 // room for key and one more: "old" goes
	c2, err := Open(o)
	require.NoError(t, err)
	assert.Equal(t, []string{key, "README", "new"}, dirNames(t, dir))
	assert.True(t, c2.Has(key))
	b, n := c2.Usage()
	assert.Equal(t, int64(4196), b)
	assert.Equal(t, 2, n)
	h, err = c2.Open(ctx, key, int64(len(data)), noFetch(t))
	require.NoError(t, err)
	defer h.Close()
	got, err := readAll(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Len(t, f.calls(), 1)
}

func TestOpenContext(t *testing.T) {
	c := newCache(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Open(ctx, key, -1, noFetch(t))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = c.Open(context.Background(), key, -1, nil)
	assert.Error(t, err)
	assert.Empty(t, dirNames(t, c.dir))
}

func TestFileDeletedBehindTheCache(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	adopt(t, c, key, []byte("old bytes"))
	require.NoError(t, os.Remove(c.path(key)))
	f := &fake{data: []byte("fresh")}
	h, err := c.Open(ctx, key, -1, f.fetch)
	require.NoError(t, err)
	defer h.Close()
	got, err := readAll(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, "fresh", string(got))
	b, n := c.Usage()
	assert.Equal(t, int64(5), b)
	assert.Equal(t, 1, n)
}

func TestAdoptWhileFilling(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil)
	data := randBytes(3000)
	fetch, pw, _ := pipeFetcher(int64(len(data)))
	h, err := c.Open(ctx, key, -1, fetch)
	require.NoError(t, err)
	defer h.Close()
	adopt(t, c, key, data) // the fill goes on; the adopted file is dropped
	go func() {
		_, _ = pw.Write(data)
		_ = pw.Close()
	}()
	got, err := readAll(ctx, h)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, []string{key}, dirNames(t, c.dir))
	b, n := c.Usage()
	assert.Equal(t, int64(len(data)), b)
	assert.Equal(t, 1, n)
}

// An entry cut or damaged on disk between two runs is not served: it is
// checked against the size and checksum recorded when it was filled (or
// adopted), or against the size the opener knows, and fetched again.
// Fills do not fsync, so this is also what a crash may leave of an entry
// under its final name with its record: no bytes (delayed allocation), a
// prefix, or the right size with holes that read as zeros.
func TestDamagedEntryIsFetchedAgain(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	o := Options{Dir: dir, Backoff: time.Millisecond}
	c, err := Open(o)
	require.NoError(t, err)
	data := randBytes(50_000)
	const cut, flipped, adopted, unrecorded = "cut", "flipped", "adopted", "unrecorded"
	const emptied, holes = "emptied", "holes"
	for _, k := range []string{cut, flipped, emptied, holes} {
		h, err := c.Open(ctx, k, -1, (&fake{data: data}).fetch)
		require.NoError(t, err)
		_, err = readAll(ctx, h)
		require.NoError(t, err)
		require.NoError(t, h.Close())
	}
	adopt(t, c, adopted, data)
	for _, k := range []string{cut, flipped, emptied, holes, adopted} {
		_, ok := readSum(filepath.Join(dir, k))
		require.True(t, ok, "%s carries its record (this test needs user xattrs)", k)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, unrecorded), data[:100], 0o600))

	// Between two runs: one file cut, two with a byte changed.
	require.NoError(t, os.Truncate(filepath.Join(dir, cut), 20_000))
	require.NoError(t, os.Truncate(filepath.Join(dir, emptied), 0))
	require.NoError(t, os.Truncate(filepath.Join(dir, holes), 0))
	require.NoError(t, os.Truncate(filepath.Join(dir, holes), int64(len(data))))
	for _, k := range []string{flipped, adopted} {
		f, err := os.OpenFile(filepath.Join(dir, k), os.O_RDWR, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte{data[30_000] ^ 0xff}, 30_000)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}

	c2, err := Open(o)
	require.NoError(t, err)
	assert.False(t, c2.Has(cut), "a cut file is dropped when the cache opens")
	assert.False(t, c2.Has(emptied), "an emptied file is dropped when the cache opens")
	for _, tc := range []struct {
		key  string
		size int64 // what the opener knows
	}{{cut, -1}, {flipped, -1}, {adopted, -1}, {unrecorded, int64(len(data))}, {emptied, -1}, {holes, -1}} {
		f := &fake{data: data}
		h, err := c2.Open(ctx, tc.key, tc.size, f.fetch)
		require.NoError(t, err, tc.key)
		got, err := readAll(ctx, h)
		require.NoError(t, err, tc.key)
		require.NoError(t, h.Close())
		assert.Equal(t, data, got, tc.key)
		assert.Len(t, f.calls(), 1, "%s is fetched again", tc.key)
	}
	// Checked once: the next Open is a plain hit.
	h, err := c2.Open(ctx, flipped, -1, noFetch(t))
	require.NoError(t, err)
	got, err := readAll(ctx, h)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	assert.Equal(t, data, got)
}
