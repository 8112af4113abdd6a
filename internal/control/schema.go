// Package control is the local control channel of a running mount: a unix
// socket in the state directory, 0600 and owned by the mounting user (who
// alone may connect), over which `chatfs status`, `chatfs wait` and
// `chatfs status --watch` ask the mount what upload/ holds. The mount's
// root names the socket in its user.chatfs.control xattr.
//
// The protocol is JSON lines: the client writes a Request, the server
// answers one Status per request, in order, on the same connection. Status
// is also what `chatfs status --json` prints: its fields are a stable,
// documented schema (README "Status as JSON"); fields are only ever added.
// Nothing secret (tokens, share-secrets, file bytes) is ever in it.
package control

import "time"

// SchemaVersion is Status.Version. It changes only if a field changes
// meaning or goes away.
const SchemaVersion = 1

// XattrName is the xattr of the mount's root that holds the socket's path.
const XattrName = "user.chatfs.control"

// Request asks a mount for its status.
type Request struct {
	Op string `json:"op"` // "status"
	// Landed asks for App.Landed: the landings kept with a seq larger
	// than Since's for the app (0 for an app Since does not name).
	Landed bool              `json:"landed,omitempty"`
	Since  map[string]uint64 `json:"since,omitempty"`
	// SendsSince is Since for App.SendsLanded.
	SendsSince map[string]uint64 `json:"sends_since,omitempty"`
}

// Status is a mount's state: each app's uploads, and the download cache.
type Status struct {
	Version    int       `json:"version"`
	Mountpoint string    `json:"mountpoint"`
	Time       time.Time `json:"time"` // when the mount answered
	Apps       []App     `json:"apps"`
	Cache      Cache     `json:"cache"`
}

// App is one app's part of Status.
type App struct {
	Name string `json:"name"`
	// Disk is "ok", or says that the disk holding upload/ is full.
	Disk string `json:"disk"`
	// Uploads are the files of upload/ to be uploaded, in path order.
	Uploads []Upload `json:"uploads"`
	// Ignored are files and folders of upload/ that will not be uploaded.
	Ignored []Ignored `json:"ignored"`
	// Landed are recent uploads that are done (the newest 4096 or more
	// are kept), when Request.Landed asks for them; LastSeq is the newest
	// landing's seq (0: none since the mount began).
	Landed  []Landed `json:"landed"`
	LastSeq uint64   `json:"last_seq"`
	// History is the message history import's progress (chats/); absent
	// when the app imports no history.
	History *History `json:"history,omitempty"`
	// Sends are the files of send/ to be sent, in path order.
	Sends []Send `json:"sends"`
	// SendsLanded are recent sends that are done (the file left send/
	// and is in chats/), when Request.Landed asks for them;
	// SendsLastSeq is the newest one's seq (0: none since the mount
	// began). Seqs of sends count apart from those of uploads.
	SendsLanded  []SentLanded `json:"sends_landed"`
	SendsLastSeq uint64       `json:"sends_last_seq"`
}

// Send is one file of send/ that will be uploaded, then sent as a message.
type Send struct {
	Path      string    `json:"path"`   // relative to the app's send/: "users/alice/report.pdf"
	Kind      string    `json:"kind"`   // "users", "groups" or "rooms"; "" when not in a conversation's folder
	Target    string    `json:"target"` // the user name, group id or room id
	Size      int64     `json:"size"`
	State     string    `json:"state"` // Waiting, Uploading, Sending or Failed
	Attempts  int       `json:"attempts"`
	NextRetry time.Time `json:"next_retry,omitzero"`
	Error     string    `json:"error,omitempty"`
	Sent      int64     `json:"sent,omitempty"` // bytes uploaded so far, while uploading
	Started   time.Time `json:"started,omitzero"`
}

// SentLanded is a send that is done: uploaded, its message sent, and
// recorded.
type SentLanded struct {
	Seq   uint64    `json:"seq"`
	Path  string    `json:"path"` // relative to send/
	UUID  string    `json:"uuid"`
	MsgID string    `json:"msg_id,omitempty"` // the message's id, as the service answered it
	Size  int64     `json:"size"`
	Time  time.Time `json:"time"`
}

// History is the progress of an app's message history import over its
// window of hours.
type History struct {
	Hours       int       `json:"hours"`                 // hours of the window that are over
	Done        int       `json:"done"`                  // imported, or known to have no messages
	Waiting     int       `json:"waiting"`               // not made yet by the service: asked again later
	Unavailable int       `json:"unavailable"`           // given up: no longer kept, or refused
	Failed      int       `json:"failed"`                // failed: asked again after a pause
	ToDo        int       `json:"to_do"`                 // not looked at yet
	Attachments int       `json:"attachments"`           // attachments imported from the window's hours
	Line        string    `json:"line"`                  // all of it on one line, as status prints it
	Current     time.Time `json:"current,omitzero"`      // the hour being read now
	NextAttempt time.Time `json:"next_attempt,omitzero"` // when the next round starts
}

// Upload states.
const (
	Waiting   = "waiting"   // settling, queued, or waiting to try again
	Uploading = "uploading" // being sent, or being recorded
	Sending   = "sending"   // send/ only: uploaded, its message being sent
	Failed    = "failed"    // will not be tried again until changed or touched
)

// Upload is one file of upload/ that will be uploaded.
type Upload struct {
	Path      string    `json:"path"` // relative to the app's upload/
	Size      int64     `json:"size"`
	State     string    `json:"state"` // Waiting, Uploading or Failed
	Attempts  int       `json:"attempts"`
	NextRetry time.Time `json:"next_retry,omitzero"` // not tried before; absent: as soon as an uploader is free
	Error     string    `json:"error,omitempty"`     // the last failure's reason
	Sent      int64     `json:"sent,omitempty"`      // bytes sent so far, while uploading
	Started   time.Time `json:"started,omitzero"`    // when the upload in flight began
}

// Ignored is a file or folder of upload/ that will not be uploaded.
type Ignored struct {
	Path string `json:"path"` // folders end in "/"
	Why  string `json:"why"`
}

// Landed is an upload that is done: the file left upload/ and is in files/.
type Landed struct {
	Seq  uint64    `json:"seq"`
	Path string    `json:"path"`
	UUID string    `json:"uuid"`
	Size int64     `json:"size"`
	Time time.Time `json:"time"`
}

// Cache is the download cache's use.
type Cache struct {
	Bytes int64 `json:"bytes"`
	Files int   `json:"files"`
	Limit int64 `json:"limit"`
}

// AnyFailed reports whether an upload or a send of s has failed.
func (s Status) AnyFailed() bool {
	for _, a := range s.Apps {
		for _, u := range a.Uploads {
			if u.State == Failed {
				return true
			}
		}
		for _, u := range a.Sends {
			if u.State == Failed {
				return true
			}
		}
	}
	return false
}
