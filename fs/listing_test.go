package fs

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
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
