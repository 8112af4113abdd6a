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
	dir    gofs.NodeLookuper
	load   func(ctx context.Context) ([]T, syscall.Errno)
	dirent func(T) fuse.DirEntry
	lookup func(ctx context.Context, item T, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno)

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
		items, errno := l.load(ctx)
		if errno != 0 {
			return nil, errno
		}
		l.items, l.names, l.loaded = items, make([]string, len(items)), true
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
}
