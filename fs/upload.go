package fs

import (
	"context"
	"log/slog"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// uploadNode is a node of upload/: go-fuse's loopback over the app's
// staging directory, with the outbox told of every change, writes bounded
// by the size limit, durable close, and no links or special files.
type uploadNode struct {
	*gofs.LoopbackNode
	ob   *core.Outbox
	log  *slog.Logger
	send bool // a node of send/, whose layout send.go keeps
}

func newUploadRoot(a *core.App, log *slog.Logger) (*uploadNode, error) {
	return newOutboxRoot(a.Outbox(), log, false)
}

// newOutboxRoot is the root node of an outbox's folder: upload/, or
// send/ when send is set.
func newOutboxRoot(ob *core.Outbox, log *slog.Logger, send bool) (*uploadNode, error) {
	dir := ob.Dir()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return nil, err
	}
	data := &gofs.LoopbackRoot{Path: dir, Dev: uint64(st.Dev)}
	n := &uploadNode{LoopbackNode: &gofs.LoopbackNode{RootData: data}, ob: ob, log: log, send: send}
	data.RootNode = n
	return n, nil
}

// uploadTimeout is how long the kernel keeps the attributes of upload/'s
// files and folders: without it, every path walk of a `cp` asks for each
// folder's attributes again (8 GETATTRs a file copied, half its
// requests). Only the uploader changes upload/ behind the kernel's back,
// and it only removes files: their entries stay uncached (entry timeout
// 0), so a file gone after its upload is never shown; a folder's times
// may lag by this much.
const uploadTimeout = listingTimeout

var _ = (gofs.NodeLookuper)((*uploadNode)(nil))

func (n *uploadNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if en := n.mayLookup(name); en != 0 {
		return nil, en
	}
	ch, en := n.LoopbackNode.Lookup(ctx, name, out)
	if en == 0 {
		out.SetAttrTimeout(uploadTimeout)
	}
	return ch, en
}

var _ = (gofs.NodeGetattrer)((*uploadNode)(nil))

// Getattr of upload/ itself follows the root path, which names the
// staging directory through a /proc/self/fd link (see core's Outbox.Dir);
// everything below is the loopback's.
func (n *uploadNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*uploadHandle); ok {
		f = h.LoopbackFile
	}
	out.SetTimeout(uploadTimeout)
	if f != nil || !n.isRoot() {
		return n.LoopbackNode.Getattr(ctx, f, out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(n.RootData.Path, &st); err != nil {
		return gofs.ToErrno(err)
	}
	out.FromStat(&st)
	return 0
}

// stableAttr is the upload root's identity: its inode on the staging disk.
func (n *uploadNode) stableAttr() gofs.StableAttr {
	var st syscall.Stat_t
	_ = syscall.Stat(n.RootData.Path, &st)
	return gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: st.Ino}
}

var _ = (gofs.NodeWrapChilder)((*uploadNode)(nil))

func (n *uploadNode) WrapChild(ctx context.Context, ops gofs.InodeEmbedder) gofs.InodeEmbedder {
	return &uploadNode{LoopbackNode: ops.(*gofs.LoopbackNode), ob: n.ob, log: n.log, send: n.send}
}

// rel is the node's path relative to upload/.
func (n *uploadNode) rel() string {
	return n.EmbeddedInode().Path(n.RootData.RootNode.EmbeddedInode())
}

// child is the path of name in this directory, relative to upload/.
func (n *uploadNode) child(name string) string {
	if p := n.rel(); p != "" {
		return p + "/" + name
	}
	return name
}

const writeFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_TRUNC | syscall.O_APPEND

var _ = (gofs.NodeCreater)((*uploadNode)(nil))

func (n *uploadNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if en := n.mayHoldFiles(); en != 0 {
		return nil, nil, 0, en
	}
	id := n.ob.Opened(n.child(name))
	if err := n.ob.Modify(id); err != nil {
		n.ob.Closed(id)
		return nil, nil, 0, errno(n.log, "create", err)
	}
	ch, fh, fl, en := n.LoopbackNode.Create(ctx, name, flags, mode&privateMode, out)
	if en != 0 {
		n.ob.Closed(id)
		return nil, nil, 0, en
	}
	out.SetAttrTimeout(uploadTimeout)
	return ch, &uploadHandle{LoopbackFile: fh.(*gofs.LoopbackFile), node: n, id: id}, fl, 0
}

var _ = (gofs.NodeOpener)((*uploadNode)(nil))

func (n *uploadNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	write := flags&writeFlags != 0
	var id uint64
	if write {
		id = n.ob.Opened(n.rel())
		if flags&syscall.O_TRUNC != 0 {
			if err := n.ob.Modify(id); err != nil {
				n.ob.Closed(id)
				return nil, 0, errno(n.log, "open", err)
			}
		}
	}
	fh, fl, en := n.LoopbackNode.Open(ctx, flags)
	if en != 0 {
		if write {
			n.ob.Closed(id)
		}
		return nil, 0, en
	}
	return &uploadHandle{LoopbackFile: fh.(*gofs.LoopbackFile), node: n, id: id}, fl, 0
}

// privateMode keeps staged files and folders to their owner (0600 and
// 0700 at most): they are state, under a 0700 data directory. Set-uid,
// set-gid and sticky bits are dropped: a staged file is data to upload.
const privateMode = 0o700 | syscall.S_IFMT

var _ = (gofs.NodeMkdirer)((*uploadNode)(nil))

func (n *uploadNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if en := n.mayMkdir(name); en != 0 {
		return nil, en
	}
	ch, en := n.LoopbackNode.Mkdir(ctx, name, mode&privateMode, out)
	if en != 0 {
		return nil, en
	}
	out.SetAttrTimeout(uploadTimeout)
	return ch, errno(n.log, "mkdir", n.ob.MadeDir(n.child(name)))
}

var _ = (gofs.NodeSetattrer)((*uploadNode)(nil))

func (n *uploadNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if m, ok := in.GetMode(); ok {
		in.Mode = m & privateMode
	}
	if n.IsDir() {
		// A folder's times and mode: nothing uploads them.
		if h, ok := f.(*uploadHandle); ok {
			f = h.LoopbackFile
		}
		return n.LoopbackNode.Setattr(ctx, f, in, out)
	}
	h, ok := f.(*uploadHandle)
	if !ok || h.id == 0 {
		// By name (truncate(2), utimes, chmod): a brief writer of its own,
		// so that no upload of the old content is recorded while the
		// change happens, and that vouches for the file once it is done.
		id := n.ob.Opened(n.rel())
		defer n.ob.Closed(id)
		lf, _ := f.(*uploadHandle)
		h = &uploadHandle{node: n, id: id}
		if lf != nil {
			h.LoopbackFile = lf.LoopbackFile
		}
		if en := h.setattr(ctx, in, out); en != 0 {
			return en
		}
		return errno(n.log, "setattr", n.ob.Flushed(id, nil))
	}
	return h.setattr(ctx, in, out)
}

// setattr changes the attributes of h's file through the outbox: a size
// within the limit is a change, times are the user's word the file is
// whole, and a failure marks the file failed.
func (h *uploadHandle) setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n := h.node
	if size, ok := in.GetSize(); ok {
		if err := n.ob.Truncate(h.id, int64(size)); err != nil {
			return errno(n.log, "truncate", err)
		}
	}
	_, atime := in.GetATime()
	_, mtime := in.GetMTime()
	if atime || mtime {
		n.ob.Touched(h.id)
	}
	var f gofs.FileHandle
	if h.LoopbackFile != nil {
		f = h.LoopbackFile
	}
	en := n.LoopbackNode.Setattr(ctx, f, in, out)
	if en != 0 {
		if _, ok := in.GetSize(); ok {
			n.ob.Failed(h.id, en)
		}
	}
	return en
}

var _ = (gofs.NodeRenamer)((*uploadNode)(nil))

func (n *uploadNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*uploadNode)
	if !ok || np.ob != n.ob {
		// Out of upload/, or into another app's: before the outbox is told
		// of names that are not its own.
		return syscall.EXDEV
	}
	if flags&^uint32(renameNoReplace) != 0 {
		return syscall.EINVAL // exchange and whiteout would defeat the queue's bookkeeping
	}
	if en := n.mayRename(name, np, newName); en != 0 {
		return en
	}
	oldRel, newRel := n.child(name), np.child(newName)
	// Both names are brief writers while the rename happens: an upload in
	// flight under either is stopped, and none is recorded with the bytes
	// the rename puts in place. Renamed then carries them to the new name,
	// where releasing them settles the file.
	ids := []uint64{n.ob.Opened(oldRel), n.ob.Opened(newRel)}
	defer func() {
		for _, id := range ids {
			n.ob.Closed(id)
		}
	}()
	if en := n.LoopbackNode.Rename(ctx, name, np.LoopbackNode, newName, flags); en != 0 {
		return en
	}
	return errno(n.log, "rename", n.ob.Renamed(oldRel, newRel))
}

var _ = (gofs.NodeUnlinker)((*uploadNode)(nil))

func (n *uploadNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.send && n.level() == 0 {
		return syscall.EPERM
	}
	rel := n.child(name)
	if en := n.LoopbackNode.Unlink(ctx, name); en != 0 {
		return en
	}
	n.ob.Removed(rel)
	return 0
}

var _ = (gofs.NodeRmdirer)((*uploadNode)(nil))

func (n *uploadNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if n.send && n.level() == 0 {
		return syscall.EPERM // users/, groups/, rooms/
	}
	rel := n.child(name)
	if en := n.LoopbackNode.Rmdir(ctx, name); en != 0 {
		return en
	}
	n.ob.Removed(rel)
	return 0
}

var _ = (gofs.NodeLinker)((*uploadNode)(nil))

// Link refuses hard links: a file in upload/ is uploaded and moved away, so
// a second name for it would lose data.
func (n *uploadNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

var _ = (gofs.NodeSymlinker)((*uploadNode)(nil))

// Symlink refuses symlinks: only regular files can be uploaded.
func (n *uploadNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

var _ = (gofs.NodeMknoder)((*uploadNode)(nil))

func (n *uploadNode) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, syscall.EPERM
	}
	if en := n.mayHoldFiles(); en != 0 {
		return nil, en
	}
	// An empty file, complete as made: a writer that vouches for it.
	id := n.ob.Opened(n.child(name))
	defer n.ob.Closed(id)
	if err := n.ob.Modify(id); err != nil {
		return nil, errno(n.log, "mknod", err)
	}
	ch, en := n.LoopbackNode.Mknod(ctx, name, mode&privateMode, rdev, out)
	if en != 0 {
		return nil, en
	}
	n.ob.Touched(id)
	return ch, errno(n.log, "mknod", n.ob.Flushed(id, nil))
}

var _ = (gofs.NodeCopyFileRanger)((*uploadNode)(nil))

// CopyFileRange is refused so that copies go through Write and its size
// check; callers fall back to read and write.
func (n *uploadNode) CopyFileRange(ctx context.Context, fhIn gofs.FileHandle, offIn uint64, out *gofs.Inode, fhOut gofs.FileHandle, offOut uint64, len uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.EOPNOTSUPP
}

// Upload state xattrs; xattrDisk is on upload/ itself.
const (
	xattrState = "user.chatfs.state"
	xattrError = "user.chatfs.error"
	xattrDisk  = "user.chatfs.disk"
)

// isRoot reports whether n is upload/ itself.
func (n *uploadNode) isRoot() bool { return n.EmbeddedInode() == n.RootData.RootNode.EmbeddedInode() }

// diskState is what user.chatfs.disk says of the staging disk.
func diskState(ob *core.Outbox) string {
	if ob.DiskFull() {
		return "full: writes to upload/ fail with ENOSPC and uploads wait until space is freed"
	}
	return "ok"
}

var _ = (gofs.NodeGetxattrer)((*uploadNode)(nil))

func (n *uploadNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.isRoot() && attr == xattrDisk {
		return copyXattr(dest, diskState(n.ob))
	}
	state, reason, ok := n.ob.State(n.rel())
	switch {
	case !ok:
	case attr == xattrState:
		return copyXattr(dest, string(state))
	case attr == xattrError && reason != "" && state != core.StateUploading:
		return copyXattr(dest, reason)
	}
	if userXattr(attr) && !n.isRoot() {
		return n.LoopbackNode.Getxattr(ctx, attr, dest)
	}
	return 0, noXattr(attr)
}

// maxUserXattr bounds a user xattr's value: what every disk the state
// may be on keeps (ext4's limit is a block), answered the same everywhere.
const maxUserXattr = 4 << 10

// userXattr reports whether attr is a user's own extended attribute,
// which a staged file keeps on the staging disk (rsync -X, cp
// --preserve=all): user.*, but not chatfs's user.chatfs.*. They are not
// uploaded, and go with the file when it leaves upload/.
func userXattr(attr string) bool {
	return strings.HasPrefix(attr, "user.") && !strings.HasPrefix(attr, "user.chatfs.")
}

// userXattrs lists the user xattrs of the staged file or folder (see
// userXattr); upload/ itself keeps none.
func (n *uploadNode) userXattrs(ctx context.Context) ([]string, syscall.Errno) {
	if n.isRoot() {
		return nil, 0
	}
	buf := make([]byte, 64<<10) // XATTR_LIST_MAX
	sz, en := n.LoopbackNode.Listxattr(ctx, buf)
	if en != 0 {
		return nil, en
	}
	var names []string
	for _, name := range strings.Split(string(buf[:sz]), "\x00") {
		if userXattr(name) {
			names = append(names, name)
		}
	}
	return names, 0
}

var _ = (gofs.NodeListxattrer)((*uploadNode)(nil))

func (n *uploadNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	state, reason, ok := n.ob.State(n.rel())
	var names []string
	if n.isRoot() {
		names = append(names, xattrDisk)
	}
	if ok {
		names = append(names, xattrState)
		if reason != "" && state != core.StateUploading {
			names = append(names, xattrError)
		}
	}
	user, en := n.userXattrs(ctx)
	if en != 0 {
		return 0, en
	}
	return copyXattrNames(dest, append(names, user...))
}

var _ = (gofs.NodeSetxattrer)((*uploadNode)(nil))

// Setxattr: the chatfs attributes are chatfs's to set; a user's own are
// kept on the staged file (see userXattr); no others are.
func (n *uploadNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	switch {
	case strings.HasPrefix(attr, "user.chatfs."):
		return syscall.EPERM
	case userXattr(attr) && !n.isRoot():
		if len(data) > maxUserXattr {
			return syscall.E2BIG
		}
		return n.LoopbackNode.Setxattr(ctx, attr, data, flags)
	}
	return syscall.ENOTSUP
}

var _ = (gofs.NodeRemovexattrer)((*uploadNode)(nil))

func (n *uploadNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	switch {
	case strings.HasPrefix(attr, "user.chatfs."):
		return syscall.EPERM
	case userXattr(attr) && !n.isRoot():
		return n.LoopbackNode.Removexattr(ctx, attr)
	}
	return noXattr(attr)
}

// uploadHandle is an open file of upload/. Writes go through the outbox,
// which refuses them past the size limit (EFBIG) or the disk's reserve
// (ENOSPC) and keeps the file's completeness; Flush makes the bytes
// durable before close returns.
type uploadHandle struct {
	*gofs.LoopbackFile
	node *uploadNode
	id   uint64 // the outbox's writer id; 0 for read-only handles
}

var _ = (gofs.FileWriter)((*uploadHandle)(nil))

func (h *uploadHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if err := h.node.ob.Write(h.id, off, int64(len(data))); err != nil {
		return 0, errno(h.node.log, "write", err)
	}
	n, en := h.LoopbackFile.Write(ctx, data, off)
	if en != 0 {
		h.node.ob.Failed(h.id, en)
	}
	return n, en
}

var _ = (gofs.FileAllocater)((*uploadHandle)(nil))

func (h *uploadHandle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	frees := mode&freeingAllocModes != 0
	if err := h.node.ob.Allocate(h.id, int64(off), int64(size), frees); err != nil {
		return errno(h.node.log, "allocate", err)
	}
	en := h.LoopbackFile.Allocate(ctx, off, size, mode)
	if en != 0 {
		h.node.ob.Failed(h.id, en)
	}
	return en
}

var _ = (gofs.FileFlusher)((*uploadHandle)(nil))

// Flush runs on every close: for a writable handle the outbox makes the
// bytes and the name durable and records whether the file is complete, so
// that once close returns success a crash loses nothing.
func (h *uploadHandle) Flush(ctx context.Context) syscall.Errno {
	if h.id != 0 {
		if err := h.node.ob.Flushed(h.id, h); err != nil {
			return errno(h.node.log, "close", err)
		}
	}
	return h.LoopbackFile.Flush(ctx)
}

// Sync fsyncs the staged file (core.SyncFile).
func (h *uploadHandle) Sync() error {
	if en := h.LoopbackFile.Fsync(context.Background(), 0); en != 0 {
		return en
	}
	return nil
}

var _ = (gofs.FileReleaser)((*uploadHandle)(nil))

func (h *uploadHandle) Release(ctx context.Context) syscall.Errno {
	en := h.LoopbackFile.Release(ctx)
	if h.id != 0 {
		h.node.ob.Closed(h.id)
	}
	return en
}

var _ = (gofs.FilePassthroughFder)((*uploadHandle)(nil))

// PassthroughFd declines passthrough: writes must pass the size check.
func (h *uploadHandle) PassthroughFd() (int, bool) { return 0, false }
