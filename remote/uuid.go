package remote

// ValidUUID reports whether s is a chatfiles uuid in its canonical form:
// 36 characters, lowercase hex digits in groups 8-4-4-4-12 joined by '-'.
// It is checked before any URL or path is built from s, so that a name like
// "../x" or "a/b" never reaches the server or the disk.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
