//go:build unix

// Package flock takes exclusive, non-blocking flock(2) locks on lock files.
// A lock belongs to the open file, so a second Try in the same process is
// refused as well as one from another process, and the kernel drops the
// lock when the process dies.
package flock

import (
	"errors"
	"os"
	"syscall"
)

// ErrHeld is returned by Try when another open file holds the lock.
var ErrHeld = errors.New("lock is held")

// Try opens (creating, 0600) the lock file at path and locks it. Close the
// returned file to release the lock. It fails with ErrHeld when the lock is
// held elsewhere.
func Try(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrHeld
		}
		return nil, err
	}
	return f, nil
}
