package mount

import "os"

// fuseMounted reports whether a FUSE file system is mounted at dir, as
// /proc/self/mountinfo lists it. Without /proc it says no.
func fuseMounted(dir string) bool {
	info, err := os.ReadFile("/proc/self/mountinfo")
	return err == nil && fuseMountedAt(string(info), dir)
}
