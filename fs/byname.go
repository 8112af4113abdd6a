package fs

import (
	"context"
	"errors"
	"log/slog"
	"path"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// byNameDir is an app's by-name/, or a folder in it: original names as
// symlinks to files/, in the folders they were uploaded from.
type byNameDir struct {
	readOnlyDir
	app     *core.App
	log     *slog.Logger
	mounted time.Time
	path    string   // its absolute path, for the desktop's thumbnails
	folder  string   // its path in by-name/ ("album/2024"); "" for by-name/
	cache   dirCache // when the kernel may keep the listing
	kept    keptListing[byNameItem]
	inv     *invalidator
	files   *filesDir
}

// byNameItem is an entry of a by-name/ listing: a file's link, or a folder.
type byNameItem struct {
	file core.File
	dir  string // the folder's name, when the entry is one
}

// full is the by-name/ path of name in d.
func (d *byNameDir) full(name string) string {
	if d.folder == "" {
		return name
	}
	return d.folder + "/" + name
}

var _ = (gofs.NodeLookuper)((*byNameDir)(nil))

func (d *byNameDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	f, err := d.app.LookupName(d.full(name))
	if err == nil {
		return d.node(ctx, f, out), 0
	}
	if !errors.Is(err, core.ErrNotExist) {
		return nil, errno(d.log, "lookup", err)
	}
	ok, ferr := d.app.IsNameFolder(d.full(name))
	if ferr != nil {
		return nil, errno(d.log, "lookup", ferr)
	}
	if !ok {
		return nil, errno(d.log, "lookup", err)
	}
	return d.sub(ctx, name, out), 0
}

// sub returns the inode of the folder name in d, and fills out.
func (d *byNameDir) sub(ctx context.Context, name string, out *fuse.EntryOut) *gofs.Inode {
	full := d.full(name)
	ino := d.app.NameFolderIno(full)
	n := &byNameDir{app: d.app, log: d.log, mounted: d.mounted, path: d.path + "/" + name, folder: full, inv: d.inv, files: d.files}
	n.attr(&out.Attr, ino)
	out.SetEntryTimeout(listingTimeout)
	out.SetAttrTimeout(immutableTimeout)
	return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino})
}

// attr fills a folder's attributes. Its times are the mount's, as those of
// by-name/ itself: a folder exists while links are in it, and is the same
// folder whenever it is listed.
func (d *byNameDir) attr(out *fuse.Attr, ino uint64) {
	out.Ino = ino
	out.Mode = syscall.S_IFDIR | 0o755
	out.Nlink = 2
	out.SetTimes(&d.mounted, &d.mounted, &d.mounted)
}

// node returns the inode of a file's link, and fills out.
func (d *byNameDir) node(ctx context.Context, f core.File, out *fuse.EntryOut) *gofs.Inode {
	n := &linkNode{ino: f.Inodes().ByName, target: f.LinkTarget(), uploaded: f.Uploaded()}
	n.fill(&out.Attr)
	// A name leaves by-name/ only when its file is forgotten, and Unlink
	// (here and in files/) then drops it from the kernel's cache.
	out.SetEntryTimeout(immutableTimeout)
	out.SetAttrTimeout(immutableTimeout)
	return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFLNK, Ino: f.Inodes().ByName})
}

var _ = (gofs.NodeOpendirHandler)((*byNameDir)(nil))

// OpendirHandle opens a listing of by-name/ or a folder in it (see
// listing), which the kernel may keep until the index changes (see
// dirCache).
func (d *byNameDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	l := &listing[byNameItem]{
		dir:     d,
		kept:    &d.kept,
		changes: d.app.Changes,
		lasting: func(it byNameItem) bool { return it.dir != "" || !it.file.Expired() },
		load: func(ctx context.Context) ([]byNameItem, syscall.Errno) {
			var list []byNameItem
			err := d.app.ListFolder(d.folder, func(f core.File) error {
				list = append(list, byNameItem{file: f})
				return nil
			}, func(name string) error {
				list = append(list, byNameItem{dir: name})
				return nil
			})
			if err != nil {
				return nil, errno(d.log, "readdir", err)
			}
			return list, 0
		},
		shown: func(list []byNameItem) { offerLinks(d.app, d.path, list) },
		dirent: func(it byNameItem) fuse.DirEntry {
			if it.dir != "" {
				return fuse.DirEntry{Name: it.dir, Ino: d.app.NameFolderIno(d.full(it.dir)), Mode: syscall.S_IFDIR}
			}
			return fuse.DirEntry{Name: path.Base(it.file.LinkName()), Ino: it.file.Inodes().ByName, Mode: syscall.S_IFLNK}
		},
		lookup: func(ctx context.Context, it byNameItem, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
			if it.dir != "" {
				return d.sub(ctx, it.dir, out), 0
			}
			return d.node(ctx, it.file, out), 0
		},
	}
	fuseFlags, fills := d.cache.open(d.app.Changes())
	if fills {
		l.cache = &d.cache
	}
	return l, fuseFlags, 0
}

var _ = (gofs.NodeGetattrer)((*byNameDir)(nil))

func (d *byNameDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(out, d.StableAttr().Ino, 0o755, d.mounted)
	return 0
}

var _ = (gofs.NodeUnlinker)((*byNameDir)(nil))

// Unlink forgets the file the link points to, as rm in files/ does.
func (d *byNameDir) Unlink(ctx context.Context, name string) syscall.Errno {
	f, err := d.app.LookupName(d.full(name))
	if err == nil {
		err = d.app.Forget(f.UUID())
	}
	if err != nil {
		return errno(d.log, "unlink", err)
	}
	// The kernel drops this entry itself; files/ entries it keeps for
	// good, so ask it to drop them.
	d.inv.entry(d.files.EmbeddedInode(), f.UUID())
	d.inv.entry(d.files.EmbeddedInode(), f.UUID()+core.ThumbSuffix)
	return 0
}

var _ = (gofs.NodeRmdirer)((*byNameDir)(nil))

// Rmdir removes a folder that rm -r emptied: a folder exists only while it
// holds links, so an empty one is already gone, and one that still holds
// links is not empty.
func (d *byNameDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	full := d.full(name)
	ok, err := d.app.IsNameFolder(full)
	switch {
	case err != nil:
		return errno(d.log, "rmdir", err)
	case ok:
		return syscall.ENOTEMPTY
	}
	if _, err := d.app.LookupName(full); err == nil {
		return syscall.ENOTDIR
	}
	return 0
}

// linkNode is a by-name/ symlink. It keeps what its attributes and
// target need, not the file's record: the kernel may hold one per file.
type linkNode struct {
	gofs.Inode
	// read only
	ino      uint64
	target   string
	uploaded time.Time
}

func (n *linkNode) fill(out *fuse.Attr) {
	out.Ino = n.ino
	out.Mode = syscall.S_IFLNK | 0o777
	out.Nlink = 1
	out.Size = uint64(len(n.target))
	out.SetTimes(&n.uploaded, &n.uploaded, &n.uploaded)
}

var _ = (gofs.NodeGetattrer)((*linkNode)(nil))

func (n *linkNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	out.SetTimeout(immutableTimeout)
	return 0
}

var _ = (gofs.NodeReadlinker)((*linkNode)(nil))

func (n *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(n.target), 0
}

var _ = (gofs.NodeGetxattrer)((*linkNode)(nil))

// Getxattr: a link has no extended attributes (see noXattr).
func (n *linkNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, noXattr(attr)
}
