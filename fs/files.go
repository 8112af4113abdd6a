package fs

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// filesDir is an app's files/: every file chatfs knows, by uuid, read-only.
type filesDir struct {
	readOnlyDir
	app         *core.App
	log         *slog.Logger
	mounted     time.Time
	passthrough bool     // offer FUSE passthrough for fully cached files
	path        string   // its absolute path, for the desktop's thumbnails
	cache       dirCache // when the kernel may keep the listing
	kept        keptListing[core.Entry]
	inv         *invalidator
	byName      *byNameDir
}

var _ = (gofs.NodeLookuper)((*filesDir)(nil))

func (d *filesDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if _, _, ok := core.ParseFileName(name); !ok {
		// Not "<uuid>" or "<uuid>.thumb": it can never exist, so the
		// kernel may remember that (a negative entry, see negativeLookups).
		out.SetEntryTimeout(immutableTimeout)
		return nil, syscall.ENOENT
	}
	e, err := d.app.Lookup(ctx, name)
	if err != nil {
		return nil, errno(d.log, "lookup", err)
	}
	return d.node(ctx, e, out), 0
}

// node returns the inode of an entry looked up, and fills out.
func (d *filesDir) node(ctx context.Context, e core.Entry, out *fuse.EntryOut) *gofs.Inode {
	size, final := d.app.Size(e)
	n := &fileNode{dir: d, name: e.Name(), restricted: e.File().Restricted(), thumb: e.Thumb, uploaded: e.File().Uploaded().UnixNano(), ino: e.Ino()}
	if final {
		n.size = size
	}
	n.fill(&out.Attr, size)
	out.SetEntryTimeout(immutableTimeout)
	out.SetAttrTimeout(attrTimeout(final))
	return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: e.Ino()})
}

var _ = (gofs.NodeOpendirHandler)((*filesDir)(nil))

// OpendirHandle opens a listing of files/ (see listing), which the kernel
// may keep until the index changes (see dirCache).
func (d *filesDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	l := &listing[core.Entry]{
		dir:     d,
		kept:    &d.kept,
		changes: d.app.Changes,
		lasting: func(e core.Entry) bool { return !e.File().Expired() },
		load: func(ctx context.Context) ([]core.Entry, syscall.Errno) {
			var list []core.Entry
			err := d.app.List(func(e core.Entry) error {
				list = append(list, e)
				return nil
			})
			if err != nil {
				return nil, errno(d.log, "readdir", err)
			}
			return list, 0
		},
		shown: func(list []core.Entry) { offerFiles(d.app, d.path, list) },
		dirent: func(e core.Entry) fuse.DirEntry {
			return fuse.DirEntry{Name: e.Name(), Ino: e.Ino(), Mode: syscall.S_IFREG}
		},
		lookup: func(ctx context.Context, e core.Entry, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
			e, err := d.app.Resolve(ctx, e)
			if err != nil {
				return nil, errno(d.log, "lookup", err)
			}
			return d.node(ctx, e, out), 0
		},
	}
	fuseFlags, fills := d.cache.open(d.app.Changes())
	if fills {
		l.cache = &d.cache
	}
	return l, fuseFlags, 0
}

var _ = (gofs.NodeGetattrer)((*filesDir)(nil))

func (d *filesDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(out, d.StableAttr().Ino, 0o755, d.mounted)
	return 0
}

var _ = (gofs.NodeUnlinker)((*filesDir)(nil))

// Unlink forgets a file locally; the service has no delete.
func (d *filesDir) Unlink(ctx context.Context, name string) syscall.Errno {
	uuid, thumb, ok := core.ParseFileName(name)
	if !ok {
		return syscall.ENOENT
	}
	if thumb {
		return syscall.EPERM // a thumbnail goes with its file
	}
	f, known := d.app.Known(uuid)
	if err := d.app.Forget(uuid); err != nil {
		return errno(d.log, "unlink", err)
	}
	// The kernel drops files/<uuid> itself; the file's other entries it
	// keeps for good, so ask it to drop them.
	d.inv.entry(d.EmbeddedInode(), uuid+core.ThumbSuffix)
	if known && f.LinkName() != "" {
		// A link in a folder (album/x.jpg): dropping the folder's entry
		// drops everything the kernel holds below it.
		top, _, _ := strings.Cut(f.LinkName(), "/")
		d.inv.entry(d.byName.EmbeddedInode(), top)
	}
	return 0
}

// fileNode is a file of files/ or its thumbnail. It keeps what its
// attributes need, not the file's record, which it reads again when opened
// or asked for its xattrs (entry): the kernel may hold one per file.
type fileNode struct {
	gofs.Inode
	// read only
	dir        *filesDir
	name       string // <uuid> or <uuid>.thumb
	ino        uint64
	uploaded   int64 // unix nanoseconds: the node's times
	restricted bool
	thumb      bool // <uuid>.thumb: no lifetime of its own

	// The kernel refuses (EIO) a passthrough open of an inode that has
	// files open through the page cache, and a page-cache open of one that
	// has passthrough files open; direct I/O opens mix with either. So a
	// file is opened by passthrough only when no cached handle is open, and
	// with direct I/O while passthrough handles are.
	mu               sync.Mutex
	cachedOpens      int   // handles open through the page cache. GUARDED_BY(mu)
	passthroughOpens int   // handles open by passthrough. GUARDED_BY(mu)
	size             int64 // the final size; 0 until known. GUARDED_BY(mu)
}

// entry looks the node's name up again, as a lookup of it would.
func (n *fileNode) entry(ctx context.Context) (core.Entry, error) {
	return n.dir.app.Lookup(ctx, n.name)
}

// fill sets a file's attributes from its size: real size (0 while
// unknown), upload time as mtime, read-only.
func (n *fileNode) fill(out *fuse.Attr, size int64) {
	out.Ino = n.ino
	out.Mode = syscall.S_IFREG | n.mode()
	out.Nlink = 1
	out.Blksize = maxRequest // readers read that much per request
	if size > 0 {
		out.Size = uint64(size)
		out.Blocks = (out.Size + 511) / 512
	}
	t := time.Unix(0, n.uploaded)
	out.SetTimes(&t, &t, &t)
}

// mode is 0644 for a file anyone with the URL may download, 0600 for a
// restricted one: its readers need the share-secret, which only the
// mounting user holds. Others see any of them only with --allow-other. The
// owner's write bit lets the owner set user.chatfs.lifetime (the kernel
// asks for write permission to set a user.* xattr); writes themselves
// answer EROFS. Thumbnails, which have no lifetime of their own, are 0444
// and 0400.
func (n *fileNode) mode() uint32 {
	m := uint32(0o444)
	if n.restricted {
		m = 0o400
	}
	if !n.thumb {
		m |= 0o200
	}
	return m
}

// attrTimeout: attributes are immutable once the size is final; until then
// (unknown, or only announced by a download in progress) the kernel asks
// again.
func attrTimeout(final bool) time.Duration {
	if final {
		return immutableTimeout
	}
	return 0
}

var _ = (gofs.NodeGetattrer)((*fileNode)(nil))

func (n *fileNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	size := n.size
	n.mu.Unlock()
	if size > 0 {
		n.fill(&out.Attr, size)
		out.SetTimeout(immutableTimeout)
		return 0
	}
	e, err := n.entry(ctx)
	if err != nil {
		return errno(n.dir.log, "getattr", err)
	}
	size, final, err := n.dir.app.Stat(ctx, e)
	if err != nil {
		return errno(n.dir.log, "getattr", err)
	}
	if final {
		n.mu.Lock()
		n.size = size
		n.mu.Unlock()
	}
	n.fill(&out.Attr, size)
	out.SetTimeout(attrTimeout(final))
	return 0
}

var _ = (gofs.NodeSetattrer)((*fileNode)(nil))

func (n *fileNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeOpener)((*fileNode)(nil))

func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	e, err := n.entry(ctx)
	if err != nil {
		return nil, 0, errno(n.dir.log, "open", err)
	}
	h, err := n.dir.app.Open(ctx, e)
	if err != nil {
		return nil, 0, errno(n.dir.log, "open", err)
	}
	fh := &readHandle{h: h, log: n.dir.log}
	if _, final := n.dir.app.Size(e); !final {
		// The size is unknown, or only announced by a download that may
		// yet fail: the kernel must not cut reads at a size it was told
		// (0, or one that later proves wrong), nor turn a failed download
		// into an end of file.
		return fh, fuse.FOPEN_DIRECT_IO, 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.dir.passthrough && h.Complete() && n.cachedOpens == 0:
		n.passthroughOpens++
		fh.onRelease = n.released(&n.passthroughOpens)
		return &passthroughHandle{fh}, fuse.FOPEN_KEEP_CACHE, 0
	case n.passthroughOpens > 0:
		return fh, fuse.FOPEN_DIRECT_IO, 0
	}
	n.cachedOpens++
	fh.onRelease = n.released(&n.cachedOpens)
	return fh, fuse.FOPEN_KEEP_CACHE, 0
}

// released returns a release hook that decrements one of n's open counts.
func (n *fileNode) released(count *int) func() {
	return func() {
		n.mu.Lock()
		*count--
		n.mu.Unlock()
	}
}

// mimeXattr is the one attribute whose value may need the file's first
// bytes (a file looked up by uuid: its type is sniffed when asked for).
const mimeXattr = "user.mime_type"

var _ = (gofs.NodeGetxattrer)((*fileNode)(nil))

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if !core.MayHaveXattr(attr) {
		return 0, noXattr(attr)
	}
	e, err := n.entry(ctx)
	if err != nil {
		return 0, errno(n.dir.log, "getxattr", err)
	}
	xs, err := n.dir.app.Xattrs(ctx, e, attr == mimeXattr)
	if err != nil {
		return 0, errno(n.dir.log, "getxattr", err)
	}
	for _, x := range xs {
		if x.Name == attr && (x.Name != core.XattrShareSecret || byOwner(ctx)) {
			return copyXattr(dest, x.Value)
		}
	}
	return 0, gofs.ENOATTR
}

var _ = (gofs.NodeListxattrer)((*fileNode)(nil))

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	e, err := n.entry(ctx)
	if err != nil {
		return 0, errno(n.dir.log, "listxattr", err)
	}
	xs, err := n.dir.app.Xattrs(ctx, e, true)
	if err != nil {
		return 0, errno(n.dir.log, "listxattr", err)
	}
	var names []string
	for _, x := range xs {
		if x.Name != core.XattrShareSecret || byOwner(ctx) {
			names = append(names, x.Name)
		}
	}
	return copyXattrNames(dest, names)
}

var _ = (gofs.NodeSetxattrer)((*fileNode)(nil))

// Setxattr sets user.chatfs.lifetime (see core.App.SetLifetime); every
// other attribute is read-only.
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	switch {
	case attr != core.XattrLifetime:
		return syscall.EROFS
	case n.thumb:
		return syscall.EPERM // a thumbnail goes with its file
	}
	e, err := n.entry(ctx)
	if err != nil {
		return errno(n.dir.log, "setxattr", err)
	}
	return errno(n.dir.log, "setxattr", n.dir.app.SetLifetime(ctx, e, string(data)))
}

var _ = (gofs.NodeRemovexattrer)((*fileNode)(nil))

func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.EROFS
}

// byOwner reports whether the FUSE request comes from the mounting user:
// the share-secret is theirs alone, whatever the file's mode says.
func byOwner(ctx context.Context) bool {
	c, ok := fuse.FromContext(ctx)
	return ok && c.Uid == uint32(os.Getuid())
}
