package core

import (
	"hash/fnv"

	"github.com/chatfs/chatfs/index"
)

// Inode numbers, for every view of the mount. This file is the one place
// that says which node gets which number: fs/ asks (App.Inodes,
// File.Inodes, Entry.Ino) and adds no offsets of its own. Numbers are
// stable: the same node has the same number after a remount, so they are
// never changed, only added to. They fall in disjoint ranges:
//
//	1                         the mount's root (RootIno)
//	below 1<<40               upload/ and everything in it: the staging disk's
//	                          own numbers, which go-fuse's loopback passes on
//	1<<40 + 4n                a block of four per file record; index.DB.Put
//	                          allocates n from a persisted sequence (a crash
//	                          leaves a gap, never a reuse) and stores the
//	                          block's first number as index.File.Ino
//	1<<56 | fnv32a(app)<<2    a block of four per app, for its fixed folders
//
// A file's block (fileInodes):
//
//	+0  files/<uuid>
//	+1  files/<uuid>.thumb
//	+2  by-name/<link name>
//	+3  spare
//
// An app's block (appInodes):
//
//	+0  <app>/
//	+1  <app>/files/
//	+2  <app>/by-name/
//	+3  spare
//
// The views of conversations (chats.go):
//
//	+3 of a file's block      its link in every conversation folder showing it
//	1<<57 | fnv32a(app)<<2    an app's second block: chats/ +0, chats/users/
//	                          +1, chats/groups/ +2, chats/rooms/ +3
//	1<<60 | fnv64a(app, kind, id) & (1<<60-1)
//	                          a conversation's folder (chats/users/<user>/):
//	                          any well-formed id has one, records or not,
//	                          so it is derived, not allocated
//
// by-name/ folders:
//
//	1<<61 | fnv64a(app, folder) & (1<<60-1)
//	                          a folder of by-name/ (by-name/album/): derived
//	                          from its path, as a conversation's folder is
//
// A new range (send/ folders to come) must stay disjoint from these.
const (
	// RootIno is the inode number of the mount's root.
	RootIno = 1

	fileThumb  = 1 // files/<uuid>.thumb, from a file's block
	fileByName = 2 // by-name/<link name>, from a file's block
	fileChat   = 3 // its link in conversation folders, from a file's block

	appFiles  = 1 // <app>/files/, from an app's block
	appByName = 2 // <app>/by-name/, from an app's block
)

// FileInodes are the inode numbers of one file's nodes.
type FileInodes struct {
	File   uint64 // files/<uuid>
	Thumb  uint64 // files/<uuid>.thumb
	ByName uint64 // by-name/<link name>
	Chat   uint64 // chats/<kind>/<id>/<name>
}

// fileInodes numbers the nodes of f from the block the index gave it.
func fileInodes(f index.File) FileInodes {
	return FileInodes{File: f.Ino, Thumb: f.Ino + fileThumb, ByName: f.Ino + fileByName, Chat: f.Ino + fileChat}
}

// AppInodes are the inode numbers of an app's fixed folders.
type AppInodes struct {
	Dir    uint64 // <app>/
	Files  uint64 // <app>/files/
	ByName uint64 // <app>/by-name/
	// chats/ and its folders, from the app's second block.
	Chats, ChatUsers, ChatGroups, ChatRooms uint64
}

// appInodes numbers an app's fixed folders. The block is derived from the
// app's name, so it survives remounts, and lies far above the numbers of
// the staging disk and of the index.
func appInodes(app string) AppInodes {
	h := fnv.New32a()
	h.Write([]byte(app))
	base := 1<<56 | uint64(h.Sum32())<<2
	chats := 1<<57 | uint64(h.Sum32())<<2
	return AppInodes{Dir: base, Files: base + appFiles, ByName: base + appByName,
		Chats: chats, ChatUsers: chats + 1, ChatGroups: chats + 2, ChatRooms: chats + 3}
}

// Inodes are the inode numbers of the app's fixed folders.
func (a *App) Inodes() AppInodes { return appInodes(a.opts.Name) }

// NameFolderIno is the inode number of the by-name/ folder at path folder
// ("album/2024") of the app.
func (a *App) NameFolderIno(folder string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(a.opts.Name))
	h.Write([]byte{0})
	h.Write([]byte(folder))
	return 1<<61 | h.Sum64()&(1<<60-1)
}
