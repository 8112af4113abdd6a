// Package core is chatfs's model of one mounted app, free of FUSE: it
// answers lookups and listings of files/ and by-name/ from the index, opens
// file contents through the download cache, and runs the upload outbox
// (settling, queueing, uploading, recovery) and send/'s, the same outbox
// with a message sent after each upload (sender.go). fs/ is a thin adapter
// over it.
//
// core owns the view, what the mount shows, in types of its own, so that
// fs/ imports no package of chatfs's but core and a new view (a folder per
// conversation) is added in core and fs without touching index or cache:
//
//   - view.go: Entry, a name in files/ (a file or its thumbnail); File, what
//     every view shows of one file (by-name/ hands out Files); Handle, an
//     open Entry; UploadState, what upload/ shows of a staged file.
//   - inodes.go: the inode numbers of every node, for the views there are
//     and the room kept for those to come. It is the one place numbers are
//     laid out; index only allocates each file's block.
//   - errors.go: core's errors, and the predicates (IsNotExist, IsRefused,
//     ...) that classify index's and remote's errors as well, which fs/
//     turns into errnos in one place.
//
// Data flows one way: core consults index/, reads or fills cache/, and calls
// the service through the Remote interface.
package core
