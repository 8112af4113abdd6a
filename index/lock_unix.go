//go:build unix

package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chatfs/chatfs/internal/flock"
)

// lockFileName is chatfs's own lock in the index directory. Badger keeps a
// lock too, but its error does not wrap the cause, so the index takes its
// own first to tell "in use" apart from other failures.
const lockFileName = "chatfs.lock"

// dirLock is an exclusive flock(2) on dir/chatfs.lock, held while a DB is
// open. flock locks belong to the open file, so a second Open in the same
// process is refused as well as one from another process, and the kernel
// drops the lock when the process dies.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	f, err := flock.Try(filepath.Join(dir, lockFileName))
	switch {
	case errors.Is(err, flock.ErrHeld):
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	case err != nil:
		return nil, fmt.Errorf("index: lock %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock; nil-safe.
func (l *dirLock) release() {
	if l != nil {
		l.f.Close()
	}
}
