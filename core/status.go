package core

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chatfs/chatfs/index"
)

// Item is one file of upload/ that chatfs means to upload, as `chatfs
// status` shows it.
type Item struct {
	Path      string      // slash-separated, relative to upload/
	Size      int64       // bytes on disk now
	State     UploadState // waiting, uploading, sending (send/) or failed
	Attempts  int         // failed attempts so far
	NextRetry time.Time   // a waiting file is not tried before this; zero: as soon as an uploader is free
	Error     string      // the reason of the last failure
	Sent      int64       // bytes of it sent so far, while it is in flight
	Started   time.Time   // when the upload in flight began
}

// Ignored is a file or folder left in upload/ that chatfs will not
// upload, with why.
type Ignored struct {
	Path string
	Why  string
}

// Landed is a file that left upload/ (or send/): uploaded and recorded
// (and, from send/, its message sent).
type Landed struct {
	Seq   uint64 // increases with every landing of the outbox, from 1
	Path  string
	UUID  string
	MsgID string // send/: the message's id ("" if the service gave none)
	Size  int64
	At    time.Time
}

// Snapshot is what upload/ (or send/) holds now.
type Snapshot struct {
	Items   []Item
	Ignored []Ignored
	// Landed lists the recent landings with Seq > the since asked for,
	// oldest first; LastSeq is the newest landing's Seq (0: none yet).
	Landed  []Landed
	LastSeq uint64
}

// Reasons shown for files of upload/ that are not uploaded.
const (
	whyHidden      = "hidden name (starts with '.'): never uploaded; rename it to upload it"
	whyTemp        = "temporary name (~, .part, .crdownload, .swp): never uploaded; rename it to upload it"
	whyHiddenDir   = "inside a hidden folder: never uploaded; move it out to upload it"
	whyEmptyDir    = "empty folder: nothing to upload (remove it with rmdir)"
	whyNotRegular  = "not a regular file: only regular files are uploaded"
	maxLandedKept  = 4096
	maxSnapshotLen = 100000 // entries of upload/ a snapshot lists at most
)

// whyTempPath says why a temporary path is not uploaded.
func whyTempPath(rel string) string {
	parts := strings.Split(rel, "/")
	for _, dir := range parts[:len(parts)-1] {
		if IsTempName(dir) {
			return whyHiddenDir
		}
	}
	if strings.HasPrefix(parts[len(parts)-1], ".") {
		return whyHidden
	}
	return whyTemp
}

// Snapshot lists upload/: every file that will be uploaded (with its
// state, attempts, next retry, last error and bytes sent), the files and
// folders that will not (with why), and the landings after since.
// It reads the staging directory and the index; it takes no lock across
// that I/O.
func (o *Outbox) Snapshot(since uint64) Snapshot {
	var s Snapshot
	root := o.dir + "/"
	n := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if n++; n > maxSnapshotLen {
			return filepath.SkipAll
		}
		rel, rerr := filepath.Rel(o.dir, p)
		if rerr != nil || rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			if empty(p) {
				why := whyEmptyDir
				if isTempPath(rel) {
					why = whyTempPath(rel)
				}
				s.Ignored = append(s.Ignored, Ignored{Path: rel + "/", Why: why})
			}
			return nil
		case !d.Type().IsRegular():
			s.Ignored = append(s.Ignored, Ignored{Path: rel, Why: whyNotRegular})
			return nil
		case isTempPath(rel):
			s.Ignored = append(s.Ignored, Ignored{Path: rel, Why: whyTempPath(rel)})
			return nil
		}
		state, reason, ok := o.State(rel)
		if !ok {
			return nil // gone meanwhile
		}
		it := Item{Path: rel, State: state, Error: reason}
		if fi, err := d.Info(); err == nil {
			it.Size = fi.Size()
		}
		if u, err := o.app.opts.Index.GetUpload(o.queue, rel); err == nil {
			it.Attempts = u.Attempts
			if u.State == index.Waiting && u.NotBefore.After(o.app.opts.Now()) {
				it.NextRetry = u.NotBefore
			}
		}
		o.mu.Lock()
		if f := o.inflight[rel]; f != nil && state == StateUploading {
			it.Sent, it.Started = f.sent.Load(), f.started
		}
		o.mu.Unlock()
		s.Items = append(s.Items, it)
		return nil
	})
	o.mu.Lock()
	s.LastSeq = o.landedSeq
	for _, l := range o.landed {
		if l.Seq > since {
			s.Landed = append(s.Landed, l)
		}
	}
	o.mu.Unlock()
	return s
}

// empty reports whether the folder at p has no entries.
func empty(p string) bool {
	d, err := os.Open(p)
	if err != nil {
		return false
	}
	defer d.Close()
	_, err = d.Readdirnames(1)
	return err == io.EOF
}

// noteLanded records a landing for Snapshot, keeping at least the
// newest maxLandedKept.
func (o *Outbox) noteLanded(rel, uuid, msgID string, size int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.landedSeq++
	if len(o.landed) >= 2*maxLandedKept {
		o.landed = append([]Landed(nil), o.landed[maxLandedKept:]...)
	}
	o.landed = append(o.landed, Landed{Seq: o.landedSeq, Path: rel, UUID: uuid, MsgID: msgID, Size: size, At: o.app.opts.Now()})
}

// progressFile is a staged file being sent, counting how far the sender
// has read: remote reads it in order, from offset 0 again on a retry, so
// the end of the last read is the bytes sent of the current attempt.
type progressFile struct {
	f    io.ReaderAt
	sent *atomic.Int64
}

func (p progressFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.f.ReadAt(b, off)
	p.sent.Store(off + int64(n))
	return n, err
}
