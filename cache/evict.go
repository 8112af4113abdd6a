package cache

import (
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// victim is a complete entry chosen for eviction.
type victim struct {
	key string
	e   *entry
}

// evict deletes least recently used complete entries until the bytes of
// complete entries are at most MaxBytes, and the disk has MinFree
// available (see diskShort). Entries that are open, filling,
// removed-but-open or busy are never chosen, so usage may stay above the
// bound while they are.
//
// Choosing sorts the idle entries by last access: O(n log n) in the number
// of entries, paid only when the bound is exceeded.
func (c *Cache) evict() {
	short := c.diskShort()
	c.mu.Lock()
	bound := min(c.o.MaxBytes, c.used-short)
	if c.used <= bound {
		c.mu.Unlock()
		return
	}
	var cands []victim
	for key, e := range c.entries {
		if e.complete && e.idle() {
			cands = append(cands, victim{key, e})
		}
	}
	slices.SortFunc(cands, func(a, b victim) int {
		if c := a.e.atime.Compare(b.e.atime); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	var victims []victim
	for _, v := range cands {
		if c.used <= bound {
			break
		}
		c.beginDeleteLocked(v.e)
		c.stats.Evictions++
		victims = append(victims, v)
	}
	c.mu.Unlock()
	for _, v := range victims {
		if err := c.finishDelete(v.key, v.e); err != nil {
			c.log.Warn("cache: evict", "key", v.key, "err", err)
		}
	}
}

// diskShort is how many bytes the cache's disk lacks of Options.MinFree:
// the entries to evict so that the other users of the disk (upload/, the
// index) keep their room.
func (c *Cache) diskShort() int64 {
	if c.o.MinFree <= 0 {
		return 0
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.o.Dir, &st); err != nil {
		return 0
	}
	return max(c.o.MinFree-int64(st.Bavail)*int64(st.Bsize), 0)
}
