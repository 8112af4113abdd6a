package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSendLines bounds the files of send/ status lists one by one.
const maxSendLines = 50

// printSends prints what an app's send/ holds, read from the mount's
// xattrs: the counts by state, then each file with its state (and reason
// when failed), at most maxSendLines. Nothing when the app has no send/.
func printSends(w io.Writer, app, send string) {
	if _, err := os.Stat(send); err != nil {
		return
	}
	counts := map[string]int{}
	var lines []string
	_ = filepath.WalkDir(send, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		state, err := sendXattr(p, "user.chatfs.state")
		if err != nil {
			return nil // a temporary name: never sent
		}
		counts[state]++
		rel, _ := filepath.Rel(send, p)
		line := fmt.Sprintf("  %s: send/%s", state, printable(rel))
		if state == "failed" {
			reason, _ := sendXattr(p, "user.chatfs.error")
			line += ": " + printable(reason)
		}
		lines = append(lines, line)
		return nil
	})
	fmt.Fprintf(w, "%s send/: %d waiting, %d uploading, %d sending, %d failed\n",
		printable(app), counts["waiting"], counts["uploading"], counts["sending"], counts["failed"])
	sort.Strings(lines)
	for i, l := range lines {
		if i == maxSendLines {
			fmt.Fprintf(w, "  … and %d more\n", len(lines)-i)
			break
		}
		fmt.Fprintln(w, l)
	}
}

// sendXattr reads one extended attribute of a file of send/.
func sendXattr(path, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}
