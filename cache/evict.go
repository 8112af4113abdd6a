package cache

import (
	"slices"
	"strings"
)

// victim is a complete entry chosen for eviction.
type victim struct {
	key string
	e   *entry
}

// evict deletes least recently used complete entries until the bytes of
// complete entries are at most MaxBytes. Entries that are open, filling,
// removed-but-open or busy are never chosen, so usage may stay above the
// bound while they are.
//
// Choosing sorts the idle entries by last access: O(n log n) in the number
// of entries, paid only when the bound is exceeded.
func (c *Cache) evict() {
	c.mu.Lock()
	if c.used <= c.o.MaxBytes {
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
		if c.used <= c.o.MaxBytes {
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
