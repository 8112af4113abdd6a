//go:build linux || darwin

package control

import "golang.org/x/sys/unix"

// getxattr reads one extended attribute of path.
func getxattr(path, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
