//go:build !linux && !darwin

package control

import "errors"

// getxattr: where chatfs has no xattr reader, status cannot find the
// socket from the mount point.
func getxattr(path, name string) (string, error) {
	return "", errors.New("extended attributes are not supported on this system")
}
