package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/internal/flock"
)

// CheckMountpoint refuses a mount point chatfs cannot serve well: one that
// is missing, is not a directory, or already has a FUSE file system on it
// (a live chatfs, or a dead one whose server is gone). Mounting on a file
// leaves a FUSE mount nothing can use; mounting on a FUSE mount stacks a
// second one over it.
func CheckMountpoint(mnt string) error {
	st, err := os.Stat(mnt)
	switch {
	case deadMount(err):
		return fmt.Errorf("mount point %s is a FUSE mount whose server is gone: unmount it first (%s %s)", mnt, UnmountCommand, mnt)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist: make the directory first", mnt)
	case err != nil:
		return fmt.Errorf("mount point: %w", err)
	case !st.IsDir():
		return fmt.Errorf("mount point %s is not a directory", mnt)
	}
	real, err := filepath.EvalSymlinks(mnt)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	if fuseMounted(real) { // live, or dead with its root's attributes cached
		return fmt.Errorf("mount point %s is already a FUSE mount: unmount it first (%s %s)", mnt, UnmountCommand, mnt)
	}
	return nil
}

// deadMount reports whether err is what a FUSE mount whose server has
// gone answers: ENOTCONN, or ECONNABORTED once the connection is aborted.
func deadMount(err error) bool {
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}

// fuseMountedAt reports whether mountinfo (proc(5)'s format) lists a FUSE
// file system mounted at dir.
func fuseMountedAt(mountinfo, dir string) bool {
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if !ok || len(f) < 5 || unescapeMountinfo(f[4]) != dir {
			continue
		}
		if fstype := strings.Fields(post); len(fstype) > 0 && (fstype[0] == "fuse" || strings.HasPrefix(fstype[0], "fuse.")) {
			return true
		}
	}
	return false
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// StateLock is held by a running mount on its state directory.
type StateLock struct{ f *os.File }

// LockState takes the state directory's mount lock (an exclusive flock on
// DATA/mount.lock), or says that another chatfs holds it. The CLI takes it
// before it starts anything (the embedded emulator rewrites its port file
// when it starts); the index keeps its own lock besides.
func LockState(d config.Dirs) (*StateLock, error) {
	f, err := flock.Try(filepath.Join(d.Data, "mount.lock"))
	switch {
	case errors.Is(err, flock.ErrHeld):
		return nil, inUse(d.Data)
	case err != nil:
		return nil, fmt.Errorf("state lock: %w", err)
	}
	return &StateLock{f: f}, nil
}

// Unlock releases the lock.
func (l *StateLock) Unlock() error { return l.f.Close() }

func inUse(dir string) error {
	return fmt.Errorf("%s is in use by another chatfs mount; give this one its own --state", dir)
}
