package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// runStatus prints, for a live mount, each app's uploads waiting, uploading
// and failed (with reasons) and the download cache's use. It reads the
// mount itself — the xattrs of upload/ entries and of the root — since the
// index is locked while the mount runs.
func runStatus(args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("status", "[flags] MOUNTPOINT", `
Prints, for the live chatfs mount at MOUNTPOINT, each app's uploads waiting,
uploading and failed (with reasons), and the download cache's use.`, stderr)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: chatfs status MOUNTPOINT")
		return errUsage
	}
	mnt := pos[0]
	bytes, err := xattr(mnt, "user.chatfs.cache_bytes")
	if err != nil {
		return fmt.Errorf("%s is not a live chatfs mount: %w", mnt, err)
	}
	files, _ := xattr(mnt, "user.chatfs.cache_files")
	apps, err := os.ReadDir(mnt)
	if err != nil {
		return err
	}
	for _, app := range apps {
		counts := map[string]int{}
		var failed []string
		upload := filepath.Join(mnt, app.Name(), "upload")
		_ = filepath.WalkDir(upload, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			state, err := xattr(p, "user.chatfs.state")
			if err != nil {
				return nil // a temporary name: never uploaded
			}
			counts[state]++
			if state == "failed" {
				reason, _ := xattr(p, "user.chatfs.error")
				rel, _ := filepath.Rel(upload, p)
				failed = append(failed, fmt.Sprintf("  failed: %s: %s", printable(rel), printable(reason)))
			}
			return nil
		})
		fmt.Fprintf(stdout, "%s: %d waiting, %d uploading, %d failed\n", printable(app.Name()), counts["waiting"], counts["uploading"], counts["failed"])
		if disk, err := xattr(upload, "user.chatfs.disk"); err == nil && disk != "ok" {
			fmt.Fprintf(stdout, "  disk %s\n", printable(disk))
		}
		sort.Strings(failed)
		for _, f := range failed {
			fmt.Fprintln(stdout, f)
		}
	}
	fmt.Fprintf(stdout, "download cache: %s bytes in %s files\n", bytes, files)
	return nil
}

// printable is s as it may go to a terminal: unchanged when it is UTF-8
// with no control characters, else quoted the way strconv.Quote does
// ("esc\x1b[2J.txt"), so a file name cannot move the cursor, clear the
// screen or forge a line of the listing.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strconv.Quote(s)
}

// xattr reads one extended attribute as a string.
func xattr(path, name string) (string, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getxattr(path, name, buf)
		if errors.Is(err, syscall.ERANGE) && len(buf) < 1<<20 {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(buf[:n])), nil
	}
}
