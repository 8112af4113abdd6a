package index

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultMinFree is the free space the index keeps for itself on its disk.
//
// Badger memory-maps its files: a memtable's log is a sparse file written
// through the mapping, so on a full disk the write faults (SIGBUS) and the
// process dies, at once and again at every start. The index never lets it
// get there: every write transaction, and Open, first checks that the disk
// has at least MinFree bytes available, and fails with ErrNoSpace when it
// has not. 32 MiB covers the new memtable (2 × 8 MiB, see tune) and the
// table a memtable flush writes. The outbox keeps a larger reserve for
// staged files (core), so files copied into upload/ fill the disk to that
// reserve and stop, and the index can still record what happened to them.
// Only another program filling the same disk past both reserves while the
// index writes can still fault; that is said in the README.
const DefaultMinFree = 32 << 20

// ErrNoSpace is returned, wrapped, when the disk holding the index has
// less than MinFree bytes available. errors.Is(err, syscall.ENOSPC) holds.
var ErrNoSpace error = noSpaceError{}

type noSpaceError struct{}

func (noSpaceError) Error() string   { return "the disk holding the index is full" }
func (noSpaceError) Is(t error) bool { return t == syscall.ENOSPC }

// Available returns the bytes an unprivileged writer may still use on the
// file system holding dir.
func Available(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// checkSpace fails with ErrNoSpace when dir's disk has less than min
// bytes available. An index in memory, or a min of zero, always passes.
func checkSpace(dir string, min int64) error {
	if dir == "" || min <= 0 {
		return nil
	}
	avail, err := Available(dir)
	if err != nil {
		return fmt.Errorf("index: free space of %s: %w", dir, err)
	}
	if avail < min {
		return fmt.Errorf("%w: %s has %d bytes free, the index needs %d", ErrNoSpace, dir, avail, min)
	}
	return nil
}
