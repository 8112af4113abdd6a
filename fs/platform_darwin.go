package fs

// freeingAllocModes: macFUSE's fallocate only reserves space; no mode
// frees any.
const freeingAllocModes = 0

// renameNoReplace is RENAME_EXCL of renamex_np(2), which macFUSE passes
// on as the rename's flags.
const renameNoReplace = 0x4
