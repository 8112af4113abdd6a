package core

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/chatfs/chatfs/cache"
	"github.com/chatfs/chatfs/index"
)

// File is one remote file as the mount shows it: its names and inode
// numbers in every view, and the attributes its nodes report. It is a
// value: what the index held when it was looked up.
type File struct {
	f index.File
}

// UUID is the file's uuid, its name in files/.
func (f File) UUID() string { return f.f.UUID }

// LinkName is the file's path in by-name/ ("x.jpg", "album/x.jpg"); "" for a file that has none
// (one looked up by uuid, whose name is unknown).
func (f File) LinkName() string { return f.f.LinkName }

// LinkTarget is the target of the file's by-name/ symlink: "../files/<uuid>",
// with one "../" more for each folder the link is in.
func (f File) LinkTarget() string {
	return strings.Repeat("../", 1+strings.Count(f.f.LinkName, "/")) + "files/" + f.f.UUID
}

// Inodes are the inode numbers of the file's nodes (see inodes.go).
func (f File) Inodes() FileInodes { return fileInodes(f.f) }

// Uploaded is when the file was uploaded (for a file looked up by uuid,
// when chatfs first saw it), shown as the times of its nodes.
func (f File) Uploaded() time.Time { return f.f.Uploaded }

// Restricted reports whether reading the file or its thumbnail needs a
// share-secret, which only the mounting user holds.
func (f File) Restricted() bool { return f.f.ShareSecret != "" || f.f.ThumbSecret != "" }

// Expired reports whether the server said the file expired: it is shown
// only while its bytes stay in the download cache, which may drop them at
// any time, so a listing that shows it may be out of date without a
// change to the index (App.Changes).
func (f File) Expired() bool { return f.f.Expired }

// Known returns the file of that uuid if the index holds it, asking no
// server.
func (a *App) Known(uuid string) (File, bool) {
	f, err := a.opts.Index.Get(a.opts.Name, uuid)
	if err != nil {
		return File{}, false
	}
	return File{f}, true
}

// Changes counts the changes to the index (see index.DB.Changes): while it
// stays the same, so do the app's listings, except for the expired files
// they show (File.Expired).
func (a *App) Changes() uint64 { return a.opts.Index.Changes() }

// Entry is one name in files/: a file, or its thumbnail.
type Entry struct {
	file  index.File
	Thumb bool
}

// File is the file the entry shows, or whose thumbnail it is.
func (e Entry) File() File { return File{e.file} }

// Name is the entry's name in files/.
func (e Entry) Name() string {
	if e.Thumb {
		return e.file.UUID + ThumbSuffix
	}
	return e.file.UUID
}

// Ino is the entry's stable inode number.
func (e Entry) Ino() uint64 {
	if e.Thumb {
		return fileInodes(e.file).Thumb
	}
	return fileInodes(e.file).File
}

// Handle is an open entry of files/: reads wait only for the bytes they
// ask for while the download goes on. Its methods are safe for concurrent
// use, except that none may be called after (or during) Close.
type Handle struct {
	h *cache.Handle
}

// Open opens an entry's bytes through the download cache; reading starts
// while the download goes on. Close the handle when done.
func (a *App) Open(ctx context.Context, e Entry) (*Handle, error) {
	h, err := a.open(ctx, e)
	if err != nil {
		return nil, err
	}
	return &Handle{h}, nil
}

// ReadAt reads len(p) bytes at off, waiting until they have arrived. It
// returns a short read with io.EOF itself (not wrapped) only at the end of
// a complete entry; a failed download's error, which may wrap io.EOF (a
// connection closed before any answer), is an error, not the end of the
// file; ctx.Err() if ctx ends first, which does not disturb the download.
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	return h.h.ReadAt(ctx, p, off)
}

// Complete reports whether all the entry's bytes are cached.
func (h *Handle) Complete() bool { return h.h.Complete() }

// File returns a read-only file holding the complete entry, for FUSE
// passthrough, and true; or nil, false while the entry is incomplete. The
// file belongs to the Handle: do not close it; it stays valid until Close.
func (h *Handle) File() (*os.File, bool) { return h.h.File() }

// Close releases the handle. It returns os.ErrClosed if called twice.
func (h *Handle) Close() error { return h.h.Close() }

// UploadState is what upload/ shows of a staged file in its
// user.chatfs.state xattr (Outbox.State).
type UploadState string

// Upload states, as shown in the user.chatfs.state xattr.
const (
	StateWaiting   UploadState = "waiting"   // settling, queued, or waiting to try again
	StateUploading UploadState = "uploading" // being uploaded, or uploaded and being moved to files/
	StateFailed    UploadState = "failed"    // failed for good until changed or touched; user.chatfs.error says why
	StateSending   UploadState = "sending"   // send/: uploaded, its message being sent
)

// shownState is how upload/ shows a queue entry's state: an entry uploaded
// whose bytes are still being moved (Done) as uploading, one held under a
// temporary name and since renamed (Held) as waiting.
func shownState(s index.UploadState) UploadState {
	switch s {
	case index.Uploading, index.Done:
		return StateUploading
	case index.Failed:
		return StateFailed
	}
	return StateWaiting
}
