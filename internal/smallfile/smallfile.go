// Package smallfile reads the small files users hand to chatfs — tokens,
// secrets, certificates, configs — without hanging or filling memory when
// the path names something else: a named pipe with no writer, a device, a
// huge file.
package smallfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrTooLarge is returned (wrapped) for a file larger than the caller's bound.
var ErrTooLarge = errors.New("file too large")

// Read reads all of path, at most max bytes. It opens with O_NONBLOCK, so
// a named pipe without a writer reads as empty at once instead of blocking
// for ever, while a pipe being written (--token-file <(command)) still
// reads through. Errors name the path, never the content.
func Read(path string, max int64) ([]byte, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		return nil, nil, fmt.Errorf("%s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes: %w", path, max, ErrTooLarge)
	}
	return data, fi, nil
}

// CheckPrivate returns a warning, for the caller to log, when a secret file
// is readable or writable by group or others. A path that is not a regular
// file is an error.
func CheckPrivate(path string) (warning string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Sprintf("secret file %s is accessible by group or others (mode %04o); run chmod 600 %s", path, perm, path), nil
	}
	return "", nil
}
