package fs

import (
	"context"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// send/ is upload/'s node code over the app's send/ outbox, with its
// layout kept: one folder per conversation, files only inside them.
//
//	send/                         users/, groups/, rooms/ only (EPERM)
//	send/users/                   every well-formed user name is a folder
//	                              (ENOENT for others on lookup, EINVAL on
//	                              mkdir); a listing shows those with files
//	send/users/<user>/            files to send to <user>; no subfolders (EPERM)
//
// groups/ and rooms/ likewise, by group id and room id.

// level is the node's depth in send/: 0 for send/ itself, 1 for a kind's
// folder, 2 for a conversation's, 3 for a file.
func (n *uploadNode) level() int {
	rel := n.rel()
	if rel == "" {
		return 0
	}
	return strings.Count(rel, "/") + 1
}

// mayHoldFiles refuses a file made anywhere in send/ but in a
// conversation's folder.
func (n *uploadNode) mayHoldFiles() syscall.Errno {
	if n.send && n.level() != 2 {
		return syscall.EPERM
	}
	return 0
}

// mayMkdir allows folders in send/ only for conversations, and only with a
// well-formed name.
func (n *uploadNode) mayMkdir(name string) syscall.Errno {
	switch {
	case !n.send:
		return 0
	case n.level() != 1:
		return syscall.EPERM // one folder, one conversation
	case !core.ValidTarget(name):
		return syscall.EINVAL
	}
	return 0
}

// mayRename keeps send/'s layout: files move between conversations,
// conversations between kinds under well-formed names; send/'s own
// folders stay.
func (n *uploadNode) mayRename(name string, np *uploadNode, newName string) syscall.Errno {
	if !n.send {
		return 0
	}
	from, to := n.level(), np.level()
	switch {
	case from == 0 || to != from:
		return syscall.EPERM
	case from == 1 && !core.ValidTarget(newName):
		return syscall.EINVAL
	}
	return 0
}

// mayLookup keeps send/'s layout for Lookup: send/ holds users/, groups/
// and rooms/ only, and in them every well-formed name is a folder (made on
// disk on first use).
func (n *uploadNode) mayLookup(name string) syscall.Errno {
	if !n.send {
		return 0
	}
	switch n.level() {
	case 0:
		if !core.IsSendDir(name) {
			return syscall.ENOENT
		}
	case 1:
		if !core.ValidTarget(name) {
			return syscall.ENOENT
		}
		if err := n.ob.TargetDir(n.rel(), name); err != nil {
			return errno(n.log, "lookup", err)
		}
	}
	return 0
}

var _ = (gofs.NodeOpendirHandler)((*uploadNode)(nil))

// OpendirHandle of a kind's folder lists the conversations with files
// waiting; other folders are listed as they are on disk.
func (n *uploadNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if !n.send || n.level() != 1 {
		return n.LoopbackNode.OpendirHandle(ctx, flags)
	}
	names, err := n.ob.Targets(n.rel())
	if err != nil {
		return nil, 0, errno(n.log, "opendir", err)
	}
	ents := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		var st syscall.Stat_t
		if syscall.Lstat(n.RootData.Path+"/"+n.rel()+"/"+name, &st) != nil {
			continue
		}
		ents = append(ents, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: st.Ino})
	}
	return gofs.NewListDirStream(ents).(gofs.FileHandle), 0, 0
}
