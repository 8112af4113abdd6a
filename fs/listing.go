package fs

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// listing is an open directory of files/ or by-name/: the index is read
// once, at the first READDIR(PLUS), and the records it gave also answer
// the lookups go-fuse makes for READDIRPLUS, so each record is decoded
// once per listing and the kernel gets every entry's attributes without
// another index read. A lookup of a name the listing does not hold falls
// back to the directory's own Lookup.
type listing[T any] struct {
	// read only
	dir   gofs.NodeLookuper
	cache *dirCache // nil: the kernel does not keep this listing
	// kept is the directory's last listing, reused while the index has not
	// changed; nil: every listing reads the index.
	kept *keptListing[T]
	// changes is App.Changes, read before each load when cache or kept is
	// set.
	changes func() uint64
	load    func(ctx context.Context) ([]T, syscall.Errno)
	// shown, if set, is called with every listing read, whether loaded or
	// kept (the desktop's thumbnails).
	shown func([]T)
	// lasting reports whether an item stays listed until the index
	// changes; nil: all do.
	lasting func(T) bool
	dirent  func(T) fuse.DirEntry
	lookup  func(ctx context.Context, item T, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno)

	mu     sync.Mutex
	items  []T      // GUARDED_BY(mu)
	names  []string // items' names. GUARDED_BY(mu)
	loaded bool     // GUARDED_BY(mu)
	pos    int      // index of the next entry. GUARDED_BY(mu)
}

var _ = (gofs.FileReaddirenter)((*listing[int])(nil))

func (l *listing[T]) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.loaded {
		var gen uint64
		if l.cache != nil || l.kept != nil {
			gen = l.changes()
		}
		items, ok := l.kept.get(gen)
		volatile := false
		if !ok {
			var errno syscall.Errno
			if items, errno = l.load(ctx); errno != 0 {
				return nil, errno
			}
			volatile = l.volatile(items)
			if !volatile && len(items) <= keptMax {
				l.kept.put(gen, items)
			}
		}
		if l.shown != nil {
			l.shown(items)
		}
		l.items, l.names, l.loaded = items, make([]string, len(items)), true
		if l.cache != nil {
			l.cache.filled(gen, volatile)
		}
	}
	if l.pos >= len(l.items) {
		return nil, 0
	}
	de := l.dirent(l.items[l.pos])
	l.names[l.pos] = de.Name
	l.pos++
	de.Off = uint64(l.pos)
	return &de, 0
}

// volatile reports whether some item may leave the listing without a
// change to the index.
func (l *listing[T]) volatile(items []T) bool {
	if l.lasting == nil {
		return false
	}
	for _, it := range items {
		if !l.lasting(it) {
			return true
		}
	}
	return false
}

var _ = (gofs.FileSeekdirer)((*listing[int])(nil))

// Seekdir moves to an offset Readdirent gave; offset 0 (rewinddir) reads
// the index again.
func (l *listing[T]) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off == 0 {
		l.loaded, l.items, l.names = false, nil, nil
	}
	l.pos = int(off)
	return 0
}

var _ = (gofs.FileLookuper)((*listing[int])(nil))

// Lookup answers for a name Readdirent gave: go-fuse asks for the last one,
// or, replaying an interrupted READDIRPLUS, for one shortly before.
func (l *listing[T]) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	l.mu.Lock()
	for i := min(l.pos, len(l.names)) - 1; i >= 0; i-- {
		if l.names[i] == name {
			item := l.items[i]
			l.mu.Unlock()
			return l.lookup(ctx, item, out)
		}
	}
	l.mu.Unlock()
	return l.dir.Lookup(ctx, name, out)
}

var _ = (gofs.FileReleasedirer)((*listing[int])(nil))

func (l *listing[T]) Releasedir(ctx context.Context, releaseFlags uint32) {
	l.mu.Lock()
	l.items, l.names = nil, nil
	l.mu.Unlock()
	if l.cache != nil {
		l.cache.release()
	}
}

// keptMax bounds the listings kept (keptListing): a kept entry of files/
// or by-name/ costs about 550 bytes of memory (its record, decoded), so a
// directory keeps at most about 11 MiB; a larger one is read from the index
// each time, as before.
const keptMax = 20_000

// keptListing is a directory's last listing, kept in chatfs's memory
// while the index's change count (App.Changes) stays where it was when the
// listing was read: a listing after the kernel dropped its caches (or
// forgot the directory's pages) is then served without reading and
// decoding every record again. Only listings with nothing volatile in them
// (see listing.lasting) and of at most keptMax items are kept. The items
// are shared by the handles that read them and never changed. The zero
// value is empty; a nil *keptListing keeps nothing. Safe for concurrent
// use.
type keptListing[T any] struct {
	mu    sync.Mutex
	ok    bool   // items is a listing. GUARDED_BY(mu)
	gen   uint64 // App.Changes before items were read. GUARDED_BY(mu)
	items []T    // GUARDED_BY(mu)
}

// get returns the kept listing if it was read when App.Changes was gen;
// one older than gen it lets go of (a handle opened before a newer
// listing was kept leaves that one in place).
func (k *keptListing[T]) get(gen uint64) ([]T, bool) {
	if k == nil {
		return nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ok && k.gen == gen {
		return k.items, true
	}
	if k.gen < gen {
		k.ok, k.items = false, nil
	}
	return nil, false
}

// put keeps items, read when App.Changes was gen, unless a listing read
// later is kept already.
func (k *keptListing[T]) put(gen uint64, items []T) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ok && k.gen > gen {
		return
	}
	k.ok, k.gen, k.items = true, gen, items
}

// dirCache decides when the kernel may keep a directory's listing in its
// page cache (FOPEN_CACHE_DIR) and serve it again without asking: a warm
// ls -l of files/ then makes no READDIRPLUS at all, and needs no lookups
// either, as files/ entries and attributes are cached for good. The copy is
// good while the index has not changed since the listing it holds was read
// (App.Changes) and that listing showed nothing that may go without a
// change to the index (an expired file, shown while its bytes are cached).
// Otherwise the next open asks the kernel to drop its copy: an open without
// FOPEN_KEEP_CACHE invalidates the directory's cached pages, and that open
// reads from chatfs uncached; the open after it fills the cache again. A
// handle that may still be filling the cache with an older listing when the
// copy is dropped could put it back, so the copy counts as clean again only
// once it is dropped with no such handle open.
type dirCache struct {
	mu      sync.Mutex
	held    bool   // the kernel may hold a copy of the listing. GUARDED_BY(mu)
	gen     uint64 // App.Changes before the listing it holds was read. GUARDED_BY(mu)
	mixed   bool   // it may hold older listings, or volatile ones. GUARDED_BY(mu)
	fillers int    // handles open that may fill it. GUARDED_BY(mu)
}

// open returns the open flags for a new handle of the directory, now that
// App.Changes is now, and whether the handle may fill the kernel's cache;
// if so, call release when the handle is released.
func (c *dirCache) open(now uint64) (flags uint32, fills bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held && (c.mixed || c.gen != now) {
		if c.fillers == 0 {
			c.held, c.mixed = false, false
		} else {
			c.mixed = true
		}
		return 0, false
	}
	c.fillers++
	return fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, true
}

// filled records that a listing read when App.Changes was gen may be going
// into the kernel's cache.
func (c *dirCache) filled(gen uint64, volatile bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.held:
		c.held, c.gen = true, gen
	case c.gen != gen:
		c.mixed = true
	}
	if volatile {
		c.mixed = true
	}
}

// release ends a handle open said fills.
func (c *dirCache) release() {
	c.mu.Lock()
	c.fillers--
	c.mu.Unlock()
}
