package core

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/chatfs/chatfs/index"
)

// A staged file counts as complete only when a writer closed it
// successfully and nothing changed it since. The outbox keeps that word
// durably as the file's queue entry:
//
//   - Before the first change through a writer (write, truncate, allocate,
//     create with truncation), Modify drops the path's entry (synced), so
//     a crash while the file is written leaves a staged file with no entry,
//     which the next mount marks failed instead of uploading its prefix.
//   - Flushed (every close) syncs the file and its folder through the
//     Syncer (the two at once), then records the entry: Waiting (or Held
//     under a temporary name) when the writer changed or touched the file
//     and nothing failed; Failed with the reason when a change through it
//     failed (EFBIG, ENOSPC, a failed sync). Another writer still changing the file defers the
//     word to its own close.
//   - A failed change marks every writer of the file open at that moment
//     as failed: none of them can vouch for it. Writers opened later can.
//
// The mark locks (marklock.go) order these index writes with Renamed and
// Removed, so that the entry a path ends with is the one its last event
// meant.

// errStopping: a close that came after chatfs began to stop.
var errStopping = errors.New("chatfs is stopping: the file was not recorded as complete")

// markOpenWritersFailed marks failed the files that writers still had
// open, and had changed, when chatfs stopped: a close still to come was
// not seen, so they may be cut. A FLUSH is not the last close (a forked
// child closing its copy of the descriptor flushes too), so a file
// flushed while a writer still had it open is marked here as well.
// Called by close, once stopping is closed.
func (o *Outbox) markOpenWritersFailed() {
	defer o.marks.lockAll()()
	o.mu.Lock()
	var cut []string
	for _, w := range o.writers {
		if w.wrote && w.path != "" {
			cut = append(cut, w.path)
		}
	}
	o.mu.Unlock()
	for _, rel := range cut {
		o.app.log.Warn("upload: file still open for writing at stop, not uploaded", "path", rel)
		if err := o.app.opts.Index.MarkFailed(o.queue, rel, reasonStopped); err != nil {
			o.app.log.Error("upload: mark cut file", "path", rel, "err", err)
		}
	}
}

// Reasons shown in user.chatfs.error for files that are not uploaded.
const (
	reasonStopped  = "chatfs stopped while it was being written; write it again, or touch it if it is whole"
	reasonDiskFull = "the disk was full while it was written; free space, then write it again or touch it if it is whole"
	reasonNotClose = "it was changed and not closed successfully since; write it again, or touch it if it is whole"
)

// SyncFile is an open staged file that can be flushed to disk.
type SyncFile interface{ Sync() error }

// Syncer makes staged bytes and names durable: the outbox calls File for
// every successful close of a writer and Dir for the folder that holds its
// name, and Dir for both folders after a rename. Tests count the calls.
type Syncer interface {
	File(f SyncFile) error
	Dir(path string) error
}

// osSyncer is the Syncer of a real mount: fsync(2).
type osSyncer struct{}

func (osSyncer) File(f SyncFile) error { return f.Sync() }

func (osSyncer) Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writer is an open writable handle. GUARDED_BY(Outbox.mu)
type writer struct {
	path    string // its file's path; "" once removed
	dirty   bool   // changed since its last Flushed
	wrote   bool   // changed since it was opened
	touched bool   // times set since its last Flushed (the user's word the file is whole)
	fail    string // why the file it wrote cannot be trusted; sticks until release
}

// ErrNoSpace: the staging disk is full (or down to the index's reserve).
// errors.Is(err, syscall.ENOSPC) holds.
var ErrNoSpace error = noSpaceError{}

type noSpaceError struct{}

func (noSpaceError) Error() string   { return "the disk holding upload/ is full" }
func (noSpaceError) Is(t error) bool { return t == syscall.ENOSPC }

// Write is called before writer id writes n bytes at off. It refuses a
// write past the size limit (ErrTooLarge) or into the staging disk's
// reserve (ErrNoSpace), marking the file failed, and otherwise records
// the change (see Modify).
func (o *Outbox) Write(id uint64, off, n int64) error {
	if err := o.CheckSize(off + n); err != nil {
		o.Failed(id, err)
		return err
	}
	if err := o.checkSpace(n); err != nil {
		o.Failed(id, err)
		return err
	}
	return o.Modify(id)
}

// Truncate is Write for a change of size to size bytes (truncate,
// allocate).
func (o *Outbox) Truncate(id uint64, size int64) error {
	if err := o.CheckSize(size); err != nil {
		o.Failed(id, err)
		return err
	}
	return o.Modify(id)
}

// Allocate is Write for fallocate(2) of n bytes at off: the space it
// reserves is refused, as a write's is, when it would eat into the staging
// disk's reserve (frees: a hole punched, nothing reserved).
func (o *Outbox) Allocate(id uint64, off, n int64, frees bool) error {
	if err := o.CheckSize(off + n); err != nil {
		o.Failed(id, err)
		return err
	}
	if !frees {
		if err := o.checkSpace(n); err != nil {
			o.Failed(id, err)
			return err
		}
	}
	return o.Modify(id)
}

// Modify is called before writer id changes its file. The first change
// since the writer's last flush drops the file's complete mark, durably,
// before the change reaches the disk.
func (o *Outbox) Modify(id uint64) error {
	o.mu.Lock()
	w := o.writers[id]
	if w == nil || w.dirty || w.path == "" {
		o.mu.Unlock()
		return nil
	}
	o.mu.Unlock()

	rel, unlock := o.lockWriter(w)
	defer unlock()
	if rel == "" {
		return nil
	}
	if _, err := o.app.opts.Index.Invalidate(o.queue, rel); err != nil {
		// Not dirty: the next change tries again, and none reaches the
		// disk while the old entry could still vouch for the file.
		o.mu.Lock()
		w.fail = o.reasonFor(err)
		o.mu.Unlock()
		return err
	}
	o.mu.Lock()
	w.dirty, w.wrote = true, true
	o.mu.Unlock()
	return nil
}

// Touched records that writer id set its file's times: closed, it vouches
// for the file as it is, as touch(1) does.
func (o *Outbox) Touched(id uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if w := o.writers[id]; w != nil {
		w.touched = true
	}
}

// Failed records that a change through writer id failed with err: the
// file is not complete, and every writer open on it now is failed too.
func (o *Outbox) Failed(id uint64, err error) {
	reason := o.reasonFor(err)
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.writers[id]
	if w == nil {
		return
	}
	for _, x := range o.writers {
		if x.path == w.path && x.fail == "" {
			x.fail = reason
		}
	}
	w.fail = reason
}

// reasonFor is the user.chatfs.error text for a failed change.
func (o *Outbox) reasonFor(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return fmt.Sprintf("larger than this app's limit of %d bytes", o.app.opts.MaxSize)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return reasonDiskFull
	}
	return fmt.Sprintf("a change failed while it was written (%v); write it again, or touch it if it is whole", err)
}

// Flushed is called on every close of writer id, with its open file (nil
// for a change made by name: truncate(2), utimes, mknod): it
// makes the bytes and the name durable and records whether the file is
// complete (see the comment at the top of this file). An error means the
// bytes may not be on disk; close then fails and the file stays failed.
func (o *Outbox) Flushed(id uint64, f SyncFile) error {
	o.mu.Lock()
	w := o.writers[id]
	if w == nil || w.path == "" {
		o.mu.Unlock()
		return nil
	}
	rel := w.path
	vouch := w.dirty || w.touched || w.fail != ""
	o.mu.Unlock()
	if !vouch {
		return nil // nothing changed through this handle: the file's word stands
	}

	// The data and the name, at once: both are on disk before the entry
	// below says the file is complete, and neither needs the other first
	// (a rename syncs both folders itself, so the folder of the name read
	// here is enough). Run side by side they cost about one journal
	// commit, not two in a row.
	var fileErr chan error
	if f != nil { // nil: a change made by name, with no open file to sync
		fileErr = make(chan error, 1)
		go func() { fileErr <- o.sync.File(f) }()
	}
	err := o.sync.Dir(filepath.Join(o.dir, filepath.FromSlash(path.Dir(rel))))
	if errors.Is(err, fs.ErrNotExist) {
		// Its folder was renamed meanwhile (the rename synced both
		// folders): sync the one it is in now.
		relNow, unlock := o.lockWriter(w)
		err = o.sync.Dir(filepath.Join(o.dir, filepath.FromSlash(path.Dir(relNow))))
		unlock()
	}
	if fileErr != nil {
		if ferr := <-fileErr; ferr != nil {
			err = ferr // the data's failure first: the reason the file shows
		}
	}
	if err != nil {
		o.Failed(id, err)
	}

	rel, unlock := o.lockWriter(w)
	defer unlock()
	o.mu.Lock()
	if o.stoppingLocked() {
		// Closed after chatfs began to stop (a lazily detached mount):
		// close already marked the files of open writers failed.
		o.mu.Unlock()
		return errStopping
	}
	fail := w.fail
	others := false
	for xid, x := range o.writers {
		if xid != id && x.path == rel && (x.dirty || x.fail != "") {
			others = true
		}
	}
	if fail == "" {
		w.dirty, w.touched = false, false
	}
	o.mu.Unlock()
	if rel == "" {
		return err
	}
	var merr error
	switch {
	case fail != "":
		merr = o.app.opts.Index.MarkFailed(o.queue, rel, fail)
		o.app.log.Warn("upload: file not complete, not uploaded", "path", rel, "reason", fail)
	case others:
		// Another writer has changes not yet closed: its close decides.
	default:
		// The file as it stands is what this close vouches for: the
		// uploader refuses it if it is found otherwise (changed behind
		// chatfs's back, or cut between mounts).
		var st index.Stamp
		if fi, serr := os.Lstat(filepath.Join(o.dir, filepath.FromSlash(rel))); serr == nil {
			st = index.Stamp{Size: fi.Size(), MTime: fi.ModTime()}
		}
		merr = o.app.opts.Index.Vouch(o.queue, rel, st, isTempPath(rel))
	}
	if err == nil && merr != nil {
		// Not recorded: the file has no entry, so it is not uploaded; the
		// next mount marks it failed. Close fails, so the writer knows.
		o.Failed(id, merr)
		err = merr
	}
	return err
}

// checkSpace refuses a write of n bytes that would leave the staging disk
// with less than the outbox's reserve (Options.Reserve): past it, the
// index could not record anything (see index.DefaultMinFree).
func (o *Outbox) checkSpace(n int64) error {
	if o.app.opts.Reserve < 0 {
		return nil
	}
	avail, err := availableBytes(o.dir)
	if err != nil {
		return nil // unknown: let the disk answer
	}
	if avail-n < o.app.opts.Reserve {
		o.noteDiskFull()
		return ErrNoSpace
	}
	if o.diskFull.Load() {
		o.DiskFull() // space is back: say so and wake the uploaders
	}
	return nil
}

// DefaultReserve is the free space upload/ leaves on its disk: writes that
// would eat into it fail with ENOSPC, so that the index (which keeps
// index.DefaultMinFree for itself) can still record every file's state.
const DefaultReserve = 64 << 20

// Reserve is the free space upload/ leaves on its disk (0 when unchecked):
// statfs of the mount counts it as unavailable.
func (o *Outbox) Reserve() int64 { return max(o.app.opts.Reserve, 0) }

// availableBytes is the space left for an unprivileged writer on dir's
// disk.
func availableBytes(dir string) (int64, error) { return index.Available(dir) }

// noteDiskFull records that the staging disk is full, logging it once.
func (o *Outbox) noteDiskFull() {
	if o.diskFull.CompareAndSwap(false, true) {
		o.app.log.Error("upload/: the disk is full; writes fail with ENOSPC until space is freed", "dir", o.realDir)
	}
}

// fullSlack is how far above the reserve the disk must be before it is
// no longer called full: writes are refused when they would eat into the
// reserve, so a disk just above it is still full for any useful write.
const fullSlack = 4 << 20

// DiskFull reports whether the staging disk was full at the last write or
// index change, and re-checks it: once space returns, it logs so and wakes
// the uploaders.
func (o *Outbox) DiskFull() bool {
	if !o.diskFull.Load() {
		return false
	}
	avail, err := availableBytes(o.dir)
	if err != nil || avail < o.app.opts.Reserve+fullSlack {
		return true
	}
	if o.diskFull.CompareAndSwap(true, false) {
		o.app.log.Info("upload/: disk space is back; uploads resume", "dir", o.realDir)
		o.kick()
	}
	return false
}

// MadeDir is called after the folder rel was made: its name is synced, so
// that a file closed in it later does not lose its folder in a crash (a
// close syncs only the file's own folder).
func (o *Outbox) MadeDir(rel string) error {
	return o.sync.Dir(filepath.Join(o.dir, filepath.FromSlash(path.Dir(rel))))
}
