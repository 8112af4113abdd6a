//go:build linux

package control

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// samePeer reports whether the peer runs as the mount's user (or root):
// the socket's mode says so already; this holds even if that mode was
// changed.
func samePeer(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	return cred.Uid == uint32(os.Geteuid()) || cred.Uid == 0
}

// maxSunPath is the longest socket path bind and connect take.
const maxSunPath = 107

// shortAddr is path, or, when path is too long for a socket address, the
// same name reached through /proc/self/fd/N of its folder (closeDir closes
// that descriptor once bound or connected).
func shortAddr(path string) (addr string, closeDir func(), err error) {
	if len(path) <= maxSunPath {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path))
	if len(addr) > maxSunPath {
		unix.Close(fd)
		return "", nil, fmt.Errorf("socket name %q is too long", filepath.Base(path))
	}
	return addr, func() { unix.Close(fd) }, nil
}
