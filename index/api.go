// Package index is chatfs's local knowledge of remote files, kept in badger:
// a record per file, the by-name map, and the durable upload queue.
//
// Everything is keyed by app (the configured app name, any bytes but NUL)
// and then by uuid, link name or upload path. Each method is one badger
// transaction, rerun when it conflicts with a concurrent one, so a DB is
// safe for concurrent use without locks of its own (see DB). Open takes
// the state directory for the life of the DB (see Open).
package index

import (
	"errors"
	"time"
)

// ErrNotFound is returned when a record or queue entry does not exist.
var ErrNotFound = errors.New("index: not found")

// ErrLocked is returned (wrapped, naming the directory) by Open when
// another process, or another DB in this process, holds the directory.
var ErrLocked = errors.New("index: state directory is in use by another chatfs")

// File is what chatfs knows of one remote file.
type File struct {
	App  string // the app's name as configured
	UUID string
	Ino  uint64 // first of the file's block of stable inode numbers, assigned by Put (core/inodes.go numbers the nodes)
	Name string // original file name; empty when unknown (looked up by uuid)
	// Folder is the folder the file was uploaded from, relative to
	// upload/ ('/'-separated, "" for upload/ itself and for records from
	// before folders were kept): its by-name/ link goes in that folder.
	Folder      string `json:",omitempty"`
	LinkName    string // unique path in by-name/ ("album/x.jpg"), assigned by Put from Folder and Name
	ShareSecret string
	URL         string // uri + "/" + uuid
	Size        int64  // -1 when unknown
	MIME        string
	Uploaded    time.Time
	Expires     time.Time
	Forever     bool   // kept past the retention by the lifetime API: never expires
	HasThumb    bool   // the server has a thumbnail (images)
	ThumbUUID   string // for videos: the separately uploaded thumbnail image
	ThumbSecret string
	Expired     bool // the server answered file_expired
	// Msg holds the facts of the first message chatfs saw carrying the
	// file (see ImportHour) or sent it with (send/, see Complete); nil for
	// a file known only from an upload or a lookup.
	Msg *MsgFacts `json:",omitempty"`
}

// MsgFacts are what a chat message says of a file it carries.
type MsgFacts struct {
	MsgID    string
	From     string
	To       string
	ChatType string // "chat", "groupchat" or "chatroom"
	Sent     time.Time
}

// UploadState is the state of an outbox entry.
type UploadState string

// Upload states, as shown in the user.chatfs.state xattr.
const (
	Waiting   UploadState = "waiting"
	Uploading UploadState = "uploading"
	Failed    UploadState = "failed"
	Done      UploadState = "done" // uploaded and recorded; staged bytes not yet moved to the cache
	// Held: complete (closed successfully) under a temporary name, so not
	// to be uploaded; renamed to an ordinary name, it is queued.
	Held UploadState = "held"
)

// Upload is one entry of the durable upload queue, keyed by (App, Path).
type Upload struct {
	App       string
	Path      string // slash-separated path relative to the app's upload/ directory
	State     UploadState
	Error     string    // reason of the last failure
	Permanent bool      // the failure will not go away by retrying
	Attempts  int       // failed attempts so far
	NotBefore time.Time // a waiting entry is not claimed before this time
	UUID      string    // set with Done
	Updated   time.Time // when the entry last changed (from Options.Now, or Claim's now)
	// Stamp is the staged file as it was when its close vouched for it;
	// zero when unknown (entries of older versions).
	Stamp Stamp
	// Uploaded is the file as uploaded, recorded by Uploaded while its
	// message is still to be sent (send/ queues): a later claim sends it
	// without uploading it again. Enqueue (a change) drops it.
	Uploaded *File `json:",omitempty"`
}

// Stamp is a staged file's size and modification time, as recorded when it
// was closed complete: a file found otherwise later was changed behind
// chatfs's back (damaged or cut between mounts) and is not uploaded.
type Stamp struct {
	Size  int64
	MTime time.Time
}

// Known reports whether s was recorded.
func (s Stamp) Known() bool { return !s.MTime.IsZero() }
