package fs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"syscall"
	"time"

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
		logCause(log, slog.LevelWarn, "access refused", op, err)
		return syscall.EACCES
	case core.IsQuotaExceeded(err):
		logCause(log, slog.LevelWarn, "service quota exceeded", op, err)
		return syscall.EAGAIN
	case core.IsInvalid(err):
		return syscall.EINVAL
	case errors.As(err, &en) && isLocalErrno(en):
		return en
	}
	logCause(log, slog.LevelError, "I/O error", op, err)
	return syscall.EIO
}

// causeRemind is how often a cause that keeps failing operations is
// logged again, with the count of the failures not logged.
const causeRemind = time.Minute

// causeState is the last cause logged to one logger (an app's).
type causeState struct {
	mu     sync.Mutex
	cause  string    // GUARDED_BY(mu)
	logged time.Time // GUARDED_BY(mu)
	quiet  int       // failures of cause not logged since. GUARDED_BY(mu)
}

// causes holds a causeState per logger: one per app and mount.
var causes sync.Map // *slog.Logger -> *causeState

// logCause logs a failed operation once per cause, not once per
// operation: an unreachable server fails every read with the same cause,
// and a listing of a thousand files would log a thousand lines. The
// cause is the message and the innermost error ("connection refused",
// "remote: download: 500 Internal Server Error"); its first failure is
// logged in full, repeats within causeRemind are counted, and the next
// one after is logged with that count. A new cause is logged at once.
func logCause(log *slog.Logger, level slog.Level, msg, op string, err error) {
	v, _ := causes.LoadOrStore(log, &causeState{})
	s := v.(*causeState)
	cause, now := msg+": "+rootCause(err), time.Now()
	s.mu.Lock()
	if cause == s.cause && now.Sub(s.logged) < causeRemind {
		s.quiet++
		s.mu.Unlock()
		return
	}
	quiet := 0
	if cause == s.cause {
		quiet = s.quiet
	}
	s.cause, s.logged, s.quiet = cause, now, 0
	s.mu.Unlock()
	if quiet > 0 {
		log.Log(context.Background(), level, msg, "op", op, "err", err, "failures_not_logged", quiet, "since", causeRemind)
		return
	}
	log.Log(context.Background(), level, msg, "op", op, "err", err)
}

// rootCause is the text of err's innermost error (the first of joined
// ones): what the failures of many files share.
func rootCause(err error) string {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				err = next
				continue
			}
		case interface{ Unwrap() []error }:
			if l := u.Unwrap(); len(l) > 0 && l[0] != nil {
				err = l[0]
				continue
			}
		}
		return err.Error()
	}
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
