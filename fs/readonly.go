package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// readOnlyDir refuses every change to a directory's entries with EROFS,
// except unlink, which the directories embedding it define (rm forgets).
type readOnlyDir struct {
	gofs.Inode
}

var _ = (gofs.NodeCreater)((*readOnlyDir)(nil))

func (d *readOnlyDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

var _ = (gofs.NodeMkdirer)((*readOnlyDir)(nil))

func (d *readOnlyDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeMknoder)((*readOnlyDir)(nil))

func (d *readOnlyDir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeSymlinker)((*readOnlyDir)(nil))

func (d *readOnlyDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeLinker)((*readOnlyDir)(nil))

func (d *readOnlyDir) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeRenamer)((*readOnlyDir)(nil))

func (d *readOnlyDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeRmdirer)((*readOnlyDir)(nil))

func (d *readOnlyDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeSetattrer)((*readOnlyDir)(nil))

func (d *readOnlyDir) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeGetxattrer)((*readOnlyDir)(nil))

// Getxattr: the synthetic directories have no extended attributes (see
// noXattr).
func (d *readOnlyDir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, noXattr(attr)
}
