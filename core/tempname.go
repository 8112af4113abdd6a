package core

import "strings"

// IsTempName reports whether a file name is one that editors, browsers and
// file managers use for files being written, which are never uploaded:
// hidden names (leading '.'), backups (trailing '~'), partial downloads
// (.part, .crdownload), GNOME's .goutputstream-* and vim's .swp files.
func IsTempName(name string) bool {
	switch {
	case name == "":
		return true
	case strings.HasPrefix(name, "."):
		return true
	case strings.HasSuffix(name, "~"):
		return true
	}
	for _, suf := range []string{".part", ".crdownload", ".swp"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// isTempPath reports whether any component of a slash-separated path is a
// temporary name: files inside a hidden folder are not uploaded either.
func isTempPath(rel string) bool {
	for _, c := range strings.Split(rel, "/") {
		if IsTempName(c) {
			return true
		}
	}
	return false
}
