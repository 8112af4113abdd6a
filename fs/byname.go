package fs

import (
	"context"
	"log/slog"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// byNameDir is an app's by-name/: original names as symlinks to files/.
type byNameDir struct {
	readOnlyDir
	app     *core.App
	log     *slog.Logger
	mounted time.Time
	path    string   // its absolute path, for the desktop's thumbnails
	cache   dirCache // when the kernel may keep the listing
	inv     *invalidator
	files   *filesDir
}

var _ = (gofs.NodeLookuper)((*byNameDir)(nil))

func (d *byNameDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	f, err := d.app.LookupName(name)
	if err != nil {
		return nil, errno(d.log, "lookup", err)
	}
	return d.node(ctx, f, out), 0
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

// OpendirHandle opens a listing of by-name/ (see listing), which the
// kernel may keep until the index changes (see dirCache).
func (d *byNameDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	l := &listing[core.File]{
		dir:     d,
		changes: d.app.Changes,
		lasting: func(f core.File) bool { return !f.Expired() },
		load: func(ctx context.Context) ([]core.File, syscall.Errno) {
			var list []core.File
			err := d.app.ListNames(func(f core.File) error {
				list = append(list, f)
				return nil
			})
			if err != nil {
				return nil, errno(d.log, "readdir", err)
			}
			offerLinks(d.app, d.path, list)
			return list, 0
		},
		dirent: func(f core.File) fuse.DirEntry {
			return fuse.DirEntry{Name: f.LinkName(), Ino: f.Inodes().ByName, Mode: syscall.S_IFLNK}
		},
		lookup: func(ctx context.Context, f core.File, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
			return d.node(ctx, f, out), 0
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
	f, err := d.app.LookupName(name)
	if err == nil {
		err = d.app.Forget(f.UUID())
	}
	if err != nil {
		return errno(d.log, "unlink", err)
	}
	// The kernel drops by-name/<name> itself; files/ entries it keeps
	// for good, so ask it to drop them.
	d.inv.entry(d.files.EmbeddedInode(), f.UUID())
	d.inv.entry(d.files.EmbeddedInode(), f.UUID()+core.ThumbSuffix)
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
