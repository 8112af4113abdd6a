package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatfs/chatfs/index"
)

// Outbox is an app's upload/ directory: files staged on local disk (the
// directory fs/ serves upload/ from), uploaded once closed and settled.
//
// fs/ tells it what happens to paths (Opened, Closed, Renamed,
// Removed). A path with no writer and no change for SettleDelay is queued in
// the index; uploaders claim queued paths, upload them, record the file and
// move the staged bytes into the download cache, which takes them out of
// upload/. Staged files and queue entries are on disk, so a crash loses
// nothing: start() re-queues every staged file the queue does not hold.
//
// Paths are slash-separated and relative to the staging directory.
type Outbox struct {
	// read only after newOutbox
	app     *App
	queue   string // the index queue of its entries: the app's name, or index.SendQueue of it
	dir     string // the staging directory, as shortPath gives it
	realDir string // the staging directory, for messages
	sends   bool   // send/: each file is sent as a message once uploaded (see sender.go)
	wake    chan struct{}
	sync    Syncer

	// marks order the index writes that record whether a staged file is
	// complete (see marklock.go). LOCK ORDERING: marks before mu.
	marks    *markLocks
	diskFull atomic.Bool  // the staging disk was full at the last check
	busy     atomic.Int32 // uploads being worked on, see Busy
	auth     authGate     // the token the service refused, see authwait.go

	// LOCK ORDERING: Outbox.mu is a leaf: nothing else is locked while it is
	// held, and no disk or network I/O happens under it. While an upload is
	// being recorded and its file moved out of upload/ (finishing), events
	// on that path wait for it outside the lock.
	mu        sync.Mutex
	writers   map[uint64]*writer       // writable handle -> its state. GUARDED_BY(mu)
	nextID    uint64                   // the last writable handle's id. GUARDED_BY(mu)
	timers    map[string]*settle       // path -> its settle timer. GUARDED_BY(mu)
	inflight  map[string]*flight       // path -> its upload in flight. GUARDED_BY(mu)
	finishing map[string]chan struct{} // path -> closed when its upload is recorded and moved. GUARDED_BY(mu)
	thumbs    map[string]index.File    // video path -> its uploaded thumbnail sibling. GUARDED_BY(mu)
	parked    map[string]bool          // paths an uploader claimed but left claimed while held (see upload). GUARDED_BY(mu)
	landed    []Landed                 // recent landings, oldest first (see Snapshot). GUARDED_BY(mu)
	landedSeq uint64                   // the last landing's Seq. GUARDED_BY(mu)
	ctx       context.Context          // cancelled when uploads must stop. GUARDED_BY(mu) until start
	cancel    context.CancelFunc
	stopping  chan struct{} // closed when no new upload may start
	wg        sync.WaitGroup
}

// newOutbox makes the outbox staged in stage: upload/'s (sends false,
// queued under the app's name) or send/'s (queued under index.SendQueue).
func newOutbox(a *App, stage string, sends bool) (*Outbox, error) {
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return nil, err
	}
	dir, err := shortPath(stage)
	if err != nil {
		return nil, err
	}
	queue := a.opts.Name
	if sends {
		queue = index.SendQueue(a.opts.Name)
	}
	o := &Outbox{
		app:       a,
		queue:     queue,
		sends:     sends,
		dir:       dir,
		realDir:   stage,
		wake:      make(chan struct{}, 1),
		marks:     newMarkLocks(),
		sync:      a.opts.Sync,
		writers:   make(map[uint64]*writer),
		timers:    make(map[string]*settle),
		inflight:  make(map[string]*flight),
		finishing: make(map[string]chan struct{}),
		thumbs:    make(map[string]index.File),
		parked:    make(map[string]bool),
		stopping:  make(chan struct{}),
	}
	if sends {
		if err := o.makeSendDirs(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Dir is the staging directory that backs upload/, as a short path that
// names it through an open descriptor (see shortPath): use it for every
// access to staged files.
func (o *Outbox) Dir() string { return o.dir }

// shortPath returns a path to dir that is as short as it can be:
// /proc/self/fd/N of a descriptor open on dir for the life of the process.
// A staged file's path is then that prefix plus its path in upload/, not
// the state directory's own path plus it, so a path through the mount up
// to PATH_MAX long fits (the mount's "MNT/<app>/upload/" is nearly always
// longer than "/proc/self/fd/N/"). The descriptor is never closed: a FUSE
// request served after the app closed (a lazily detached mount) must not
// reach whatever a reused descriptor number would name. Where /proc is
// missing, dir itself is used.
func shortPath(dir string) (string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return "", err
	}
	p := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		f.Close()
		return dir, nil
	}
	keepMu.Lock()
	keepOpen = append(keepOpen, f)
	keepMu.Unlock()
	return p, nil
}

// keepOpen holds the descriptors shortPath hands out, for the life of the
// process.
var (
	keepMu   sync.Mutex
	keepOpen []*os.File
)

// CheckSize answers ErrTooLarge when a file would grow to end bytes past the
// app's size limit. fs/ calls it before every write and truncate.
func (o *Outbox) CheckSize(end int64) error {
	if end > o.app.opts.MaxSize {
		return ErrTooLarge
	}
	return nil
}

// Opened records a writable handle being opened on path and returns its id
// for Closed. It stops the path's settle timer and aborts its upload in
// flight. Call it before the file is opened on disk, so an upload that
// completes cannot move the file away from under a writer.
func (o *Outbox) Opened(rel string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waitFinishingLocked(rel)
	o.nextID++
	o.writers[o.nextID] = &writer{path: rel}
	o.stopLocked(rel)
	return o.nextID
}

// hasWriterLocked reports whether path has a writable handle open.
// LOCKS_REQUIRED(mu)
func (o *Outbox) hasWriterLocked(rel string) bool {
	for _, w := range o.writers {
		if w.path == rel {
			return true
		}
	}
	return false
}

// hasWriterAtOrAboveLocked reports whether path, or a folder above it, has
// a writable handle open. LOCKS_REQUIRED(mu)
func (o *Outbox) hasWriterAtOrAboveLocked(rel string) bool {
	for _, w := range o.writers {
		if w.path != "" && under(rel, w.path) {
			return true
		}
	}
	return false
}

// pending reports whether path has a writable handle open or is settling:
// it will be queued again once it has settled.
func (o *Outbox) pending(rel string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pendingLocked(rel)
}

// pendingLocked is pending with mu held. LOCKS_REQUIRED(mu)
func (o *Outbox) pendingLocked(rel string) bool {
	_, settling := o.timers[rel]
	return settling || o.hasWriterLocked(rel)
}

// heldLocked reports whether path must not be uploaded now: it is pending,
// or a folder above it is held by a rename under way (fs/ holds both names
// as brief writers; Renamed then moves its entry, putting it back to
// Waiting). LOCKS_REQUIRED(mu)
func (o *Outbox) heldLocked(rel string) bool {
	return o.pendingLocked(rel) || o.hasWriterAtOrAboveLocked(rel)
}

// waitFinishingLocked waits until no upload at or below rel is being
// recorded. It releases mu while it waits. LOCKS_REQUIRED(mu)
func (o *Outbox) waitFinishingLocked(rel string) {
	for {
		var fin chan struct{}
		for p, c := range o.finishing {
			if under(p, rel) {
				fin = c
				break
			}
		}
		if fin == nil {
			return
		}
		o.mu.Unlock()
		<-fin
		o.mu.Lock()
	}
}

// Closed records the release of the writable handle id. When the last
// writer of a file closes, the file starts to settle.
func (o *Outbox) Closed(id uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w, ok := o.writers[id]
	delete(o.writers, id)
	if ok && w.path != "" && !o.hasWriterLocked(w.path) {
		o.scheduleLocked(w.path)
	}
}

// Removed records that path (a file, or a folder and all below it) is gone.
func (o *Outbox) Removed(rel string) {
	defer o.marks.lock(rel)()
	o.mu.Lock()
	o.waitFinishingLocked(rel)
	for _, p := range o.underLocked(rel) {
		o.stopLocked(p)
	}
	for _, w := range o.writers {
		if under(w.path, rel) {
			w.path = ""
		}
	}
	for p := range o.thumbs {
		if under(p, rel) {
			delete(o.thumbs, p)
		}
	}
	for p := range o.parked {
		if under(p, rel) {
			delete(o.parked, p)
		}
	}
	o.mu.Unlock()
	// Synced: a file made again under this name must not find the old
	// entry vouching for it after a crash.
	if _, err := o.app.opts.Index.Invalidate(o.queue, rel); err != nil {
		o.app.log.Warn("outbox: remove queue entry", "path", rel, "err", err)
	}
}

// Renamed records that oldRel (a file or a folder) is now newRel, after
// the rename happened on disk. Pending and running uploads under either name
// start over under the new one; entries move with their files. It syncs the
// folders of both names, so that the new name survives a crash (an editor's
// "x.part" -> "x" must not come back as the temporary name); an error means
// that sync failed.
func (o *Outbox) Renamed(oldRel, newRel string) error {
	unlock := o.marks.lockAll()
	o.mu.Lock()
	o.waitFinishingLocked(oldRel)
	o.waitFinishingLocked(newRel)
	for _, p := range append(o.underLocked(oldRel), o.underLocked(newRel)...) {
		o.stopLocked(p)
	}
	for _, w := range o.writers {
		if under(w.path, oldRel) {
			w.path = newRel + strings.TrimPrefix(w.path, oldRel)
		} else if under(w.path, newRel) {
			w.path = "" // replaced by the rename
		}
	}
	moved := map[string]index.File{}
	for p, f := range o.thumbs {
		if under(p, oldRel) {
			moved[newRel+strings.TrimPrefix(p, oldRel)] = f
			delete(o.thumbs, p)
		} else if under(p, newRel) {
			delete(o.thumbs, p)
		}
	}
	maps.Copy(o.thumbs, moved)
	for p := range o.parked {
		if under(p, oldRel) || under(p, newRel) {
			delete(o.parked, p) // the index puts moved Uploading entries back to Waiting
		}
	}
	o.mu.Unlock()
	if err := o.app.opts.Index.Rename(o.queue, oldRel, newRel); err != nil {
		o.app.log.Warn("outbox: rename queue entry", "from", oldRel, "to", newRel, "err", err)
	}
	unlock()
	var err error
	for _, d := range uniq(path.Dir(newRel), path.Dir(oldRel)) {
		if serr := o.sync.Dir(filepath.Join(o.dir, filepath.FromSlash(d))); serr != nil && err == nil {
			err = serr
		}
	}
	o.settleTree(newRel)
	return err
}

// uniq returns a, and b when it differs from a.
func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// settleTree schedules every regular file at or below rel.
func (o *Outbox) settleTree(rel string) {
	root := filepath.Join(o.dir, filepath.FromSlash(rel))
	if rel == "" {
		root += "/" // through the link that o.dir may be
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		r, err := filepath.Rel(o.dir, p)
		if err != nil {
			return nil
		}
		r = filepath.ToSlash(r)
		o.mu.Lock()
		if !o.hasWriterLocked(r) {
			o.scheduleLocked(r)
		}
		o.mu.Unlock()
		return nil
	})
}

// underLocked lists the paths with state that are rel or below it.
// LOCKS_REQUIRED(mu)
func (o *Outbox) underLocked(rel string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] && under(p, rel) {
			seen[p] = true
			out = append(out, p)
		}
	}
	for p := range o.timers {
		add(p)
	}
	for p := range o.inflight {
		add(p)
	}
	add(rel)
	return out
}

// stopLocked stops path's settle timer and aborts its upload in flight.
// LOCKS_REQUIRED(mu)
func (o *Outbox) stopLocked(rel string) {
	if st, ok := o.timers[rel]; ok {
		st.t.Stop()
		delete(o.timers, rel)
	}
	if f, ok := o.inflight[rel]; ok {
		f.cancel()
		delete(o.inflight, rel)
	}
}

// scheduleLocked (re)starts path's settle timer. Temporary names are never
// uploaded. LOCKS_REQUIRED(mu)
func (o *Outbox) scheduleLocked(rel string) {
	if isTempPath(rel) || o.stoppingLocked() {
		return // closed: the next start queues what is staged
	}
	if st, ok := o.timers[rel]; ok {
		st.t.Stop()
	}
	st := &settle{}
	st.t = time.AfterFunc(o.app.opts.SettleDelay, func() { o.settled(rel, st) })
	o.timers[rel] = st
}

// settled queues path once its timer ran out with nothing else happening,
// if it is complete: its entry says so (see writers.go). A Failed entry
// stays failed until the file is changed or touched; a file with no entry
// was changed and never closed successfully since, and is marked failed.
func (o *Outbox) settled(rel string, st *settle) {
	o.mu.Lock()
	if o.timers[rel] != st || o.hasWriterLocked(rel) {
		o.mu.Unlock()
		return
	}
	delete(o.timers, rel)
	o.mu.Unlock()
	fi, err := os.Lstat(filepath.Join(o.dir, filepath.FromSlash(rel)))
	if err == nil && fi.IsDir() {
		// A folder held by a rename that did not happen (or by mkdir):
		// entries below it that uploaders left claimed meanwhile settle.
		o.settleTree(rel)
		return
	}
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	defer o.marks.lock(rel)()
	if o.pending(rel) {
		return // opened or changed again while we looked
	}
	idx, app := o.app.opts.Index, o.queue
	u, err := idx.GetUpload(app, rel)
	switch {
	case errors.Is(err, index.ErrNotFound):
		err = idx.MarkFailed(app, rel, reasonNotClose)
	case err != nil:
	case u.State == index.Waiting:
		o.mu.Lock()
		delete(o.parked, rel) // queued again since it was parked
		o.mu.Unlock()
		o.kick()
		return
	case u.State == index.Uploading:
		// Left claimed while it settled (parked): queue it again. Claimed
		// and not parked, it is in flight: queueing it again would upload
		// it twice.
		o.mu.Lock()
		parked := o.parked[rel]
		delete(o.parked, rel)
		o.mu.Unlock()
		if !parked {
			return
		}
		if u.Uploaded != nil {
			err = idx.Requeue(app, rel) // unchanged: only its message is left to send
		} else {
			err = idx.Enqueue(app, rel)
		}
	case u.State == index.Held:
		// Complete under a temporary name, now renamed to an ordinary one.
		err = idx.Enqueue(app, rel)
	default: // Failed stays failed; Done is being finished
		return
	}
	if err != nil {
		o.app.log.Error("outbox: enqueue", "path", rel, "err", err)
		return
	}
	o.kick()
}

// kick wakes an idle uploader.
func (o *Outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// State is what upload/ (or send/) shows of a path in its xattrs:
// "waiting", "uploading", "sending" (send/) or "failed" and the reason of
// the last failure. ok is false for paths that will not be uploaded
// (temporary names, folders).
func (o *Outbox) State(rel string) (state UploadState, reason string, ok bool) {
	if isTempPath(rel) {
		return "", "", false
	}
	o.mu.Lock()
	pending := o.pendingLocked(rel)
	o.mu.Unlock()
	u, err := o.app.opts.Index.GetUpload(o.queue, rel)
	switch {
	case err == nil && u.State == index.Failed:
		// Failed for good (cut, too large, refused): settling does not
		// change that, only a change or a touch does. A writer still open
		// (its RELEASE follows close asynchronously) has not changed the
		// file since: its first change drops this entry (Modify).
		return StateFailed, u.Error, true
	case err == nil && !pending && u.Uploaded != nil && u.State == index.Uploading:
		return StateSending, u.Error, true
	case err == nil && !pending:
		return shownState(u.State), u.Error, true
	case err == nil || errors.Is(err, index.ErrNotFound):
		st, serr := os.Lstat(filepath.Join(o.dir, filepath.FromSlash(rel)))
		if serr != nil || !st.Mode().IsRegular() {
			return "", "", false
		}
		if err != nil && !pending {
			// No entry, no writer, not settling: it was changed and never
			// recorded complete, and settling could not mark it failed
			// (the index's disk was full). It is not uploaded: say so.
			return StateFailed, reasonNotClose, true
		}
		return StateWaiting, u.Error, true
	default:
		return "", "", false
	}
}

// under reports whether path p is rel or below it.
func under(p, rel string) bool { return p == rel || strings.HasPrefix(p, rel+"/") }

// stoppingLocked reports whether close has begun. LOCKS_REQUIRED(mu)
func (o *Outbox) stoppingLocked() bool {
	select {
	case <-o.stopping:
		return true
	default:
		return false
	}
}

// settle is a path's settle timer. The timer's callback knows it by this
// pointer, so a timer that fires after being replaced does nothing; t is
// read and written only under Outbox.mu.
type settle struct{ t *time.Timer }

// flight is an upload in progress.
type flight struct {
	cancel  context.CancelFunc
	started time.Time
	sent    atomic.Int64 // bytes of the current attempt read by the sender
}
