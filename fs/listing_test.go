package fs

import (
	"context"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dirCache lets the kernel keep a listing only while nothing it may hold
// is out of date: the first open after a change, or after a listing that
// showed an expired file, drops the kernel's copy (no FOPEN_KEEP_CACHE)
// and fills nothing; the open after it fills again.
func TestDirCacheKeepsAListingUntilTheIndexChanges(t *testing.T) {
	t.Parallel()
	const keep = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	var c dirCache
	open := func(now uint64) (uint32, bool) {
		flags, fills := c.open(now)
		if fills {
			c.release()
		}
		return flags, fills
	}

	flags, fills := open(1)
	assert.Equal(t, uint32(keep), flags, "nothing held yet: fill")
	assert.True(t, fills)
	c.filled(1, false)
	flags, fills = open(1)
	assert.Equal(t, uint32(keep), flags, "unchanged: keep")
	assert.True(t, fills)

	flags, fills = open(2)
	assert.Equal(t, uint32(0), flags, "changed: drop the kernel's copy")
	assert.False(t, fills)
	flags, _ = open(2)
	assert.Equal(t, uint32(keep), flags, "dropped: fill again")
	c.filled(2, false)
	c.filled(3, false) // a second reader, or rewinddir, read later
	flags, _ = open(3)
	assert.Equal(t, uint32(0), flags, "parts of two listings: drop")

	_, _ = open(3)
	c.filled(3, true) // it showed an expired file
	flags, _ = open(3)
	assert.Equal(t, uint32(0), flags, "a volatile listing is never kept")
	flags, _ = open(3)
	assert.Equal(t, uint32(keep), flags)
}

// A handle that may still be filling the kernel's cache when the copy is
// dropped may put an old listing back: the copy is not clean again until
// it is dropped with no such handle open.
func TestDirCacheWaitsForOldFillers(t *testing.T) {
	t.Parallel()
	const keep = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	var c dirCache
	_, fills := c.open(1) // a slow reader
	assert.True(t, fills)
	c.filled(1, false)
	flags, _ := c.open(2)
	assert.Equal(t, uint32(0), flags, "changed: drop")
	flags, _ = c.open(2)
	assert.Equal(t, uint32(0), flags, "the slow reader may have put its listing back: drop again")
	c.release()
	flags, _ = c.open(2)
	assert.Equal(t, uint32(0), flags, "dropped with no reader open")
	flags, fills = c.open(2)
	assert.Equal(t, uint32(keep), flags, "clean: fill")
	assert.True(t, fills)
	c.release()
}

// A directory's listing is read from the index once while the index does
// not change, however often it is opened (after the kernel dropped its
// caches, say); a change, or a listing holding something volatile, makes
// the next one read the index again. Every listing is shown, kept or not.
func TestKeptListingIsReadOnceWhileTheIndexStays(t *testing.T) {
	t.Parallel()
	var (
		kept     keptListing[int]
		gen      uint64 = 1
		loads    int
		shown    int
		contents = []int{1, 2, 3}
	)
	list := func() []int {
		l := &listing[int]{
			kept:    &kept,
			changes: func() uint64 { return gen },
			lasting: func(i int) bool { return i >= 0 },
			load: func(context.Context) ([]int, syscall.Errno) {
				loads++
				return slices.Clone(contents), 0
			},
			shown:  func([]int) { shown++ },
			dirent: func(i int) fuse.DirEntry { return fuse.DirEntry{Name: strconv.Itoa(i)} },
		}
		var got []int
		for {
			de, errno := l.Readdirent(context.Background())
			require.Zero(t, errno)
			if de == nil {
				break
			}
			n, err := strconv.Atoi(de.Name)
			require.NoError(t, err)
			got = append(got, n)
		}
		l.Releasedir(context.Background(), 0)
		return got
	}

	assert.Equal(t, []int{1, 2, 3}, list())
	assert.Equal(t, []int{1, 2, 3}, list())
	assert.Equal(t, 1, loads, "the index unchanged: the kept listing")

	gen, contents = 2, []int{1, 2, 3, 4}
	assert.Equal(t, []int{1, 2, 3, 4}, list(), "the index changed: read again")
	assert.Equal(t, 2, loads)
	assert.Equal(t, []int{1, 2, 3, 4}, list())
	assert.Equal(t, 2, loads)

	gen, contents = 3, []int{1, -1}
	assert.Equal(t, []int{1, -1}, list())
	assert.Equal(t, []int{1, -1}, list(), "a volatile listing is never kept")
	assert.Equal(t, 4, loads)
	assert.Equal(t, 6, shown, "every listing is shown")

	gen, contents = 4, make([]int, keptMax+1)
	list()
	list()
	assert.Equal(t, 6, loads, "a listing over keptMax is never kept")

	// The index changed while a listing was read: it is kept under the
	// count from before, so the next listing reads the index again.
	gen, contents = 10, []int{7}
	l := &listing[int]{kept: &kept, changes: func() uint64 { return gen },
		load:   func(context.Context) ([]int, syscall.Errno) { loads++; gen++; return []int{7}, 0 },
		dirent: func(i int) fuse.DirEntry { return fuse.DirEntry{Name: strconv.Itoa(i)} }}
	_, errno := l.Readdirent(context.Background())
	require.Zero(t, errno)
	l.Releasedir(context.Background(), 0)
	loadsBefore := loads
	assert.Equal(t, []int{7}, list())
	assert.Equal(t, loadsBefore+1, loads, "a write during the load: read again")

	// A listing of exactly keptMax items is kept.
	gen, contents = 20, make([]int, keptMax)
	loadsBefore = loads
	list()
	list()
	assert.Equal(t, loadsBefore+1, loads, "keptMax items are kept")
	kept = keptListing[int]{} // start afresh for what follows

	// A listing read before a later one was kept does not replace it.
	kept.put(5, []int{5})
	kept.put(4, []int{4})
	got, ok := kept.get(5)
	assert.True(t, ok)
	assert.Equal(t, []int{5}, got)
	_, ok = kept.get(4)
	assert.False(t, ok)
	_, ok = kept.get(5)
	assert.True(t, ok, "a handle older than the kept listing leaves it in place")
	_, ok = kept.get(6)
	assert.False(t, ok, "an older listing is let go")
	_, ok = kept.get(5)
	assert.False(t, ok)
}
