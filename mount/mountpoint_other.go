//go:build !linux

package mount

import (
	"strings"

	"golang.org/x/sys/unix"
)

// fuseMounted reports whether a FUSE file system is mounted at dir: dir is
// the root of its mount (statfs names it) and the file system type is
// macFUSE's ("macfuse", formerly "osxfuse") or FreeBSD's ("fusefs").
// FUSE-T serves over NFS and is not recognised.
func fuseMounted(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	on := unix.ByteSliceToString(st.Mntonname[:])
	return on == dir && strings.Contains(unix.ByteSliceToString(st.Fstypename[:]), "fuse")
}
