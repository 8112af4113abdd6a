package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// MakeDirs creates the state directories with mode 0700, refuses them if
// another user could change what is in them (see CheckPrivate), and
// tightens them if they exist readable by others.
// Nothing is created in a tree that is refused.
func (d Dirs) MakeDirs() error {
	for _, p := range d.roots() {
		if err := CheckPrivate(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, p := range []string{d.Data, d.Cache} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// roots are the trees of state to check: the --state directory when
// given, else the data and cache directories.
func (d Dirs) roots() []string {
	if d.State != "" {
		return []string{d.State}
	}
	return []string{d.Data, d.Cache}
}

// CheckPrivate refuses a state tree another user could change, as ssh
// refuses loose key files: root, or any directory under it, owned by
// another user or writable by group or others. Such a user could swap the
// bytes of a staged file before it is uploaded, or the index under a
// mount. root itself is followed if it is a symlink; nothing under it is.
func CheckPrivate(root string) error {
	st, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("state %s is not a directory", root)
	}
	if err := checkDir(root, st); err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root || !e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		return checkDir(p, info)
	})
}

// errLooseState is wrapped by CheckPrivate's refusals.
var errLooseState = errors.New("chatfs refuses state another user could change")

func checkDir(p string, info fs.FileInfo) error {
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("state directory %s is owned by uid %d, not by you (uid %d): %w; use a --state directory of your own",
			p, st.Uid, os.Geteuid(), errLooseState)
	}
	if info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state directory %s is writable by group or others (mode %04o): %w; chmod 700 it",
			p, info.Mode().Perm(), errLooseState)
	}
	return nil
}
