package mount

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// UnmountCommand is how a user unmounts a chatfs mount here.
const UnmountCommand = "fusermount3 -u"

// lazyUnmount detaches a busy mount, so the mount point is free now and
// the kernel lets go once the mount is unused: directly as root
// (umount2 with MNT_DETACH), else through fusermount3 -z.
func lazyUnmount(mnt string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(mnt, syscall.MNT_DETACH)
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if path, err := exec.LookPath(bin); err == nil {
			return exec.Command(path, "-u", "-z", mnt).Run()
		}
	}
	return errors.New("no fusermount3 to detach the mount with")
}
