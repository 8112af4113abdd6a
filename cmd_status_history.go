package main

import "path/filepath"

// historyStatus is the line `chatfs status` shows for an app's message
// history import (read from its chats/ folder), "" when the mount has
// none to show.
func historyStatus(mnt, app string) string {
	v, err := xattr(filepath.Join(mnt, app, "chats"), "user.chatfs.history")
	if err != nil || v == "" {
		return ""
	}
	return "  history: " + printable(v)
}
