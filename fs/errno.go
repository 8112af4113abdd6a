package fs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"syscall"

	"github.com/chatfs/chatfs/core"
)

// errno maps an error from the core to the errno the kernel gets, asking
// core's predicates (core.IsNotExist, ...) what it is. It is the one place
// errors are translated: the default is EIO, and the cause of every EIO is
// logged once with the operation's name. Network errors never reach
// fs.ToErrno, which would answer ENOSYS and make the kernel stop sending
// the operation for the life of the mount.
func errno(log *slog.Logger, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var en syscall.Errno
	switch {
	case core.IsNotExist(err), errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case core.IsTooLarge(err):
		return syscall.EFBIG
	case errors.Is(err, syscall.ENOSPC):
		return syscall.ENOSPC // core.ErrNoSpace, index.ErrNoSpace: said once where they happen
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case core.IsNotSupported(err):
		return syscall.EOPNOTSUPP // said once where it is learnt
	case core.IsRefused(err):
		log.Warn("access refused", "op", op, "err", err)
		return syscall.EACCES
	case core.IsQuotaExceeded(err):
		log.Warn("service quota exceeded", "op", op, "err", err)
		return syscall.EAGAIN
	case core.IsInvalid(err):
		return syscall.EINVAL
	case errors.As(err, &en) && isLocalErrno(en):
		return en
	}
	log.Error("I/O error", "op", op, "err", err)
	return syscall.EIO
}

// isLocalErrno reports errnos from local disk operations that pass through
// as they are.
func isLocalErrno(e syscall.Errno) bool {
	switch e {
	case syscall.ENOENT, syscall.EEXIST, syscall.ENOTEMPTY, syscall.EISDIR, syscall.ENOTDIR,
		syscall.ENOSPC, syscall.EDQUOT, syscall.EACCES, syscall.EPERM, syscall.EINVAL,
		syscall.ENAMETOOLONG, syscall.EFBIG, syscall.EXDEV, syscall.EBADF:
		return true
	}
	return false
}
