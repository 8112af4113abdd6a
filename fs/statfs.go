package fs

import (
	"context"
	"log/slog"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// statfs answers statfs(2) (df, a file manager's free-space check before
// a copy) for any node of an app: the numbers of the disk that holds the
// app's staging directory (ob's), where files copied into the mount land. The
// outbox's reserve, which upload/ refuses to write into, is counted as
// ext4 counts its root-reserved blocks: free (f_bfree) but not available
// to writers (f_bavail), so the space offered is the space upload/ takes.
func statfs(log *slog.Logger, ob *core.Outbox, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(ob.Dir(), &st); err != nil {
		return errno(log, "statfs", err)
	}
	out.FromStatfsT(&st)
	unit := uint64(out.Frsize)
	if unit == 0 {
		unit = uint64(out.Bsize)
	}
	if r := uint64(ob.Reserve()); r > 0 && unit > 0 {
		out.Bavail -= min(out.Bavail, (r+unit-1)/unit)
	}
	return 0
}

var (
	_ = (gofs.NodeStatfser)((*rootNode)(nil))
	_ = (gofs.NodeStatfser)((*staticDir)(nil))
	_ = (gofs.NodeStatfser)((*filesDir)(nil))
	_ = (gofs.NodeStatfser)((*fileNode)(nil))
	_ = (gofs.NodeStatfser)((*byNameDir)(nil))
	_ = (gofs.NodeStatfser)((*uploadNode)(nil))
)

// The mount's root reports the first app's disk: every app stages under
// the same state directory. With no app it leaves the numbers zero.
func (r *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	if len(r.opts.Apps) == 0 {
		return 0
	}
	return statfs(r.opts.Logger, r.opts.Apps[0].Outbox(), out)
}

func (d *staticDir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(d.log, d.app.Outbox(), out)
}

func (d *filesDir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(d.log, d.app.Outbox(), out)
}

func (n *fileNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(n.dir.log, n.dir.app.Outbox(), out)
}

func (d *byNameDir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(d.log, d.app.Outbox(), out)
}

// Statfs of upload/ and everything in it: the staging disk, as above,
// rather than the loopback's raw numbers.
func (n *uploadNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(n.log, n.ob, out)
}
