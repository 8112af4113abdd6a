//go:build !linux

package control

import (
	"fmt"
	"net"
)

// samePeer: elsewhere the socket's mode (0600, in the 0700 state
// directory) alone keeps other users out.
func samePeer(*net.UnixConn) bool { return true }

// maxSunPath is the longest socket path bind and connect take.
const maxSunPath = 103

// shortAddr is path; a path too long for a socket address is an error.
func shortAddr(path string) (addr string, closeDir func(), err error) {
	if len(path) > maxSunPath {
		return "", nil, fmt.Errorf("control socket path %q is too long (at most %d bytes)", path, maxSunPath)
	}
	return path, func() {}, nil
}
