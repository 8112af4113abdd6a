package fs

import "golang.org/x/sys/unix"

// What differs between the kernels chatfs runs on: Linux here; macOS
// (macFUSE, FUSE-T) in platform_darwin.go; the BSDs in platform_other.go.

// freeingAllocModes are the fallocate(2) modes that free space rather
// than reserve it (punching a hole, collapsing a range).
const freeingAllocModes = unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_COLLAPSE_RANGE

// renameNoReplace is RENAME_NOREPLACE of renameat2(2), the one rename
// flag upload/ honours.
const renameNoReplace = unix.RENAME_NOREPLACE
