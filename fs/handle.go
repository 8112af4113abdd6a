package fs

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// readHandle reads an open files/ entry through the download cache; a read
// waits only for the bytes it asks for.
type readHandle struct {
	h         *core.Handle
	log       *slog.Logger
	onRelease func() // if set, called once the handle is released
}

var _ = (gofs.FileReader)((*readHandle)(nil))

func (r *readHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := r.h.ReadAt(ctx, dest, off)
	// The handle returns io.EOF itself at the end of a complete entry; a
	// failed fill's error may wrap io.EOF (a connection closed before any
	// answer), and is an error, not the end of the file.
	if err != nil && err != io.EOF { //nolint:errorlint // the handle's end-of-file, not a wrapped one
		return nil, errno(r.log, "read", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

var _ = (gofs.FileReleaser)((*readHandle)(nil))

func (r *readHandle) Release(ctx context.Context) syscall.Errno {
	if r.onRelease != nil {
		r.onRelease()
	}
	return errno(r.log, "release", r.h.Close())
}

// passthroughHandle is a readHandle on a fully cached file: where the
// kernel supports FUSE passthrough it reads the cache file directly;
// elsewhere go-fuse falls back to Read.
type passthroughHandle struct {
	*readHandle
}

var _ = (gofs.FilePassthroughFder)((*passthroughHandle)(nil))

func (p *passthroughHandle) PassthroughFd() (int, bool) {
	f, ok := p.h.File()
	if !ok {
		return 0, false
	}
	return int(f.Fd()), true
}

// noXattr is the answer for an extended attribute a node does not have:
// ENODATA for a user.* name, ENOTSUP for any other. The mount keeps no
// security labels, ACLs or trusted.* attributes anywhere (setting one fails
// with ENOTSUP), and saying so rather than "not set" lets ls -l stop asking:
// coreutils remembers a device that answered ENOTSUP for security.selinux
// and system.posix_acl_access, and asks no more of its files, where ENODATA
// costs two FUSE round trips per file listed.
func noXattr(attr string) syscall.Errno {
	if strings.HasPrefix(attr, "user.") {
		return gofs.ENOATTR
	}
	return syscall.ENOTSUP
}

// copyXattr answers a getxattr: the size when dest is empty, ERANGE when it
// is too small.
func copyXattr(dest []byte, value string) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(value)), 0
	}
	if len(dest) < len(value) {
		return uint32(len(value)), syscall.ERANGE
	}
	return uint32(copy(dest, value)), 0
}

// copyXattrNames answers a listxattr with NUL-terminated names.
func copyXattrNames(dest []byte, names []string) (uint32, syscall.Errno) {
	var b []byte
	for _, n := range names {
		b = append(append(b, n...), 0)
	}
	return copyXattr(dest, string(b))
}
