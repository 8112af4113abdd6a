//go:build !linux

package mount

import "os/exec"

// UnmountCommand is how a user unmounts a chatfs mount here.
const UnmountCommand = "umount"

// lazyUnmount unmounts a busy mount by force: macOS and the BSDs have no
// lazy unmount, and their FUSE mounts belong to the user who made them,
// so umount -f works without root.
func lazyUnmount(mnt string) error {
	return exec.Command("umount", "-f", mnt).Run()
}
