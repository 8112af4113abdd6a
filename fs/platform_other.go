//go:build !linux && !darwin

package fs

// freeingAllocModes: FreeBSD's fusefs sends fallocate only to reserve
// space; no mode frees any.
const freeingAllocModes = 0

// renameNoReplace: FreeBSD's rename takes no flags, so none is honoured.
const renameNoReplace = 0
