package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/internal/backoff"
	"github.com/chatfs/chatfs/remote"
)

// maxRetryBackoff bounds the pause between attempts of a failing upload.
const maxRetryBackoff = 10 * time.Minute

// diskFullPoll is how often uploaders look for space again while the
// disk is full (a write that finds space wakes them sooner).
const diskFullPoll = 5 * time.Second

// DefaultTTL is how long the service keeps files unless configured
// otherwise (Options.Retention).
const DefaultTTL = 7 * 24 * time.Hour

// start recovers the queue from disk and starts the uploaders.
func (o *Outbox) start(ctx context.Context) error {
	if err := o.recover(); err != nil {
		return err
	}
	if o.sends {
		o.pruneTargets()
	}
	o.mu.Lock()
	o.ctx, o.cancel = context.WithCancel(context.WithoutCancel(ctx))
	o.mu.Unlock()
	for i := 0; i < o.app.opts.Uploaders; i++ {
		o.wg.Add(1)
		go o.worker()
	}
	return nil
}

// recover finishes what a crash interrupted: uploads recorded but not yet
// moved out of upload/ are moved; queue entries whose file is gone are
// dropped; staged files the queue does not hold are queued.
func (o *Outbox) recover() error {
	idx, app := o.app.opts.Index, o.queue
	queued := map[string]bool{}
	err := idx.ListUploads(app, func(u index.Upload) error {
		queued[u.Path] = true
		return nil
	})
	if err != nil {
		return err
	}
	for p := range queued {
		u, err := idx.GetUpload(app, p)
		if err != nil {
			continue
		}
		full := filepath.Join(o.dir, filepath.FromSlash(p))
		switch _, serr := os.Lstat(full); {
		case u.State == index.Done && serr == nil && !stampMatches(u.Stamp, full):
			// The entry's last step (Remove) was lost in a crash, and the
			// file staged under this name now is another one: never adopt
			// it as the uploaded file's bytes. It was being written.
			if err := idx.MarkFailed(app, p, reasonStopped); err != nil {
				return err
			}
		case u.State == index.Done:
			if serr == nil {
				if err := o.app.opts.Cache.Adopt(u.UUID, full); err != nil {
					o.app.log.Error("outbox: recover uploaded file", "path", p, "err", err)
					continue
				}
			}
			_ = idx.Remove(app, p)
		case serr != nil:
			_ = idx.Remove(app, p)
		case u.State == index.Held && !isTempPath(p):
			// Complete, renamed to an ordinary name just before the crash.
			if err := idx.Enqueue(app, p); err != nil {
				return err
			}
		}
	}
	// A staged file with no entry was being written when chatfs stopped
	// (killed, crashed, or unmounted with the writer open): what arrived is
	// likely a prefix. It stays, failed, until the user writes or touches it.
	return filepath.WalkDir(o.dir+"/", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		r, err := filepath.Rel(o.dir, p)
		if err != nil {
			return nil
		}
		r = filepath.ToSlash(r)
		if queued[r] || isTempPath(r) {
			return nil
		}
		o.app.log.Warn("upload: file cut while it was written, not uploaded", "path", r)
		return idx.MarkFailed(app, r, reasonStopped)
	})
}

// close stops the uploaders: none starts a new upload; those in flight get
// up to grace to finish, then are cancelled and stay queued.
func (o *Outbox) close(grace time.Duration) {
	o.mu.Lock()
	if o.cancel == nil {
		o.mu.Unlock()
		return
	}
	select {
	case <-o.stopping:
	default:
		close(o.stopping)
	}
	for p, st := range o.timers {
		st.t.Stop()
		delete(o.timers, p)
	}
	o.mu.Unlock()
	o.markOpenWritersFailed()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		o.cancel()
		<-done
	}
	o.cancel()
}

func (o *Outbox) worker() {
	defer o.wg.Done()
	idx, app := o.app.opts.Index, o.queue
	for {
		select {
		case <-o.stopping:
			return
		default:
		}
		if o.diskFull.Load() {
			o.DiskFull() // says so once space is back
		}
		if o.authBlocked(o.ctx) {
			if !o.pause(authPoll) {
				return
			}
			continue
		}
		u, ok, err := idx.Claim(app, o.app.opts.Now())
		if ok {
			o.upload(u)
			continue
		}
		wait := time.Minute
		if next, ok := idx.NextWake(app); ok {
			wait = min(wait, max(next.Sub(o.app.opts.Now()), 10*time.Millisecond))
		}
		switch {
		case errors.Is(err, index.ErrNoSpace):
			// The index cannot record a claim: wait for space, said once.
			o.noteDiskFull()
			wait = diskFullPoll
		case err != nil:
			o.app.log.Error("outbox: claim", "err", err)
			wait = max(wait, diskFullPoll)
		}
		if !o.pause(wait) {
			return
		}
	}
}

// pause waits for d, or until an uploader is kicked; false when the outbox
// is stopping.
func (o *Outbox) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-o.stopping:
		return false
	case <-o.wake:
	case <-t.C:
	}
	return true
}

// Busy is the number of claimed entries uploaders are working on (sending,
// recording, or deciding what a failure means).
func (o *Outbox) Busy() int { return int(o.busy.Load()) }

// upload uploads one claimed entry and records the outcome.
func (o *Outbox) upload(u index.Upload) {
	o.busy.Add(1)
	defer o.busy.Add(-1)
	idx, app, log := o.app.opts.Index, o.queue, o.app.log
	if isTempPath(u.Path) {
		// Queued, then renamed to a temporary name (or into a hidden
		// folder): never uploaded, but still complete. Renamed back, it
		// settles and is queued.
		_ = idx.Hold(app, u.Path)
		return
	}
	o.mu.Lock()
	if o.heldLocked(u.Path) {
		// Opened or changed again since it settled, or a folder above it is
		// being renamed: leave it claimed, so no uploader takes it again
		// and again while a writer has it open, nor before it has settled;
		// its settle timer (or the rename) queues it again.
		o.parked[u.Path] = true
		o.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(o.ctx)
	fl := &flight{cancel: cancel, started: o.app.opts.Now()}
	o.inflight[u.Path] = fl
	delete(o.parked, u.Path) // in flight now: a settle must not queue it again
	o.mu.Unlock()
	defer cancel()

	full := filepath.Join(o.dir, filepath.FromSlash(u.Path))
	var (
		res  remote.UploadResult
		file index.File
		err  error
	)
	switch {
	case o.sends && u.Uploaded != nil:
		file = *u.Uploaded // uploaded before: only its message is left to send
	case o.sends:
		if _, _, _, err = sendTarget(u.Path); err == nil {
			res, file, err = o.send(ctx, u.Path, full, u.Stamp, &fl.sent)
		}
		if err == nil {
			err = o.recordUploaded(u.Path, &file)
		}
	default:
		res, file, err = o.send(ctx, u.Path, full, u.Stamp, &fl.sent)
	}
	if err == nil && o.sends {
		err = o.deliver(ctx, u.Path, full, &file)
	}
	if err == nil {
		err = o.finish(ctx, u.Path, full, res, file)
	}
	o.mu.Lock()
	if o.inflight[u.Path] == fl {
		delete(o.inflight, u.Path)
	}
	o.mu.Unlock()

	if obs := o.app.opts.Observer; obs != nil && ctx.Err() == nil && !errors.Is(err, errGone) && !errors.Is(err, errStale) && !errors.Is(err, errThumbFirst) {
		tell := obs.Upload
		if o.sends {
			tell = obs.Send
		}
		switch {
		case err == nil:
			tell(OutcomeLanded, file.Size)
		case permanent(err) || sendPermanent(err):
			tell(OutcomeFailed, u.Stamp.Size)
		default:
			tell(OutcomeRetry, u.Stamp.Size)
		}
	}
	switch {
	case err == nil && o.sends:
		log.Info("sent and recorded", "path", u.Path, "uuid", file.UUID, "size", file.Size)
	case err == nil:
		log.Info("uploaded", "path", u.Path, "uuid", file.UUID, "size", file.Size)
	case errors.Is(err, errGone), ctx.Err() != nil, errors.Is(err, errStale):
		// Gone, changed, renamed or removed while uploading (the event
		// that cancelled us has re-queued or dropped it), or shutting down:
		// leave it waiting for the next attempt or the next mount (or,
		// while it has a writer, is settling or is being renamed, claimed
		// until that is over). Under its mark lock, so that a rename under way
		// has moved the entry, with the file, before we look.
		unlock := o.marks.lock(u.Path)
		cur, gerr := idx.GetUpload(app, u.Path)
		o.mu.Lock()
		held := o.heldLocked(u.Path)
		if held && gerr == nil && cur.State == index.Uploading {
			o.parked[u.Path] = true // still claimed: its settling queues it again
		}
		o.mu.Unlock()
		switch {
		case gerr != nil || cur.State != index.Uploading || held:
		case errors.Is(err, errGone):
			_ = idx.Remove(app, u.Path)
		case cur.Uploaded != nil && !errors.Is(err, errStale):
			_ = idx.Requeue(app, u.Path) // keep the upload: only the message is left
		default:
			_ = idx.Enqueue(app, u.Path)
		}
		unlock()
	case errors.Is(err, errThumbFirst):
		wait := o.thumbWait(u.Path)
		o.recordOutcome(u.Path, func() error { return idx.Fail(app, u.Path, reason(err), false, o.app.opts.Now().Add(wait)) })
		o.kickAfter(wait)
	case permanent(err) || sendPermanent(err):
		log.Warn("upload failed", "path", u.Path, "err", err)
		why := sendReason(err)
		o.recordOutcome(u.Path, func() error { return idx.Fail(app, u.Path, why, true, time.Time{}) })
	default:
		wait := retryWait(o.app.opts.RetryBackoff, u.Attempts)
		if remote.IsQuotaExceeded(err) || remote.IsUnauthorized(err) || (remote.IsForbidden(err) && !remote.IsRetryable(err)) {
			wait = maxRetryBackoff
		}
		if remote.IsUnauthorized(err) {
			o.noteRefused(ctx)
		}
		log.Warn("upload failed, will retry", "path", u.Path, "attempt", u.Attempts+1, "in", wait.Round(time.Millisecond), "err", err)
		o.recordOutcome(u.Path, func() error { return idx.Fail(app, u.Path, reason(err), false, o.app.opts.Now().Add(wait)) })
		o.kickAfter(wait)
	}
}

// recordOutcome writes the outcome of an attempt to the index. While the
// index's disk is full it waits for space and tries again: an outcome not
// written leaves the entry claimed, shown "uploading" and never claimed
// again until the next mount. The uploader could claim nothing else
// meanwhile anyway. It gives up when the outbox stops (the next mount
// queues the entry again).
func (o *Outbox) recordOutcome(rel string, write func() error) {
	for {
		err := write()
		switch {
		case err == nil:
			return
		case !errors.Is(err, index.ErrNoSpace):
			o.app.log.Error("outbox: record upload outcome", "path", rel, "err", err)
			return
		}
		o.noteDiskFull()
		if !o.pause(diskFullPoll) {
			return
		}
		if o.diskFull.Load() {
			o.DiskFull() // says so once space is back
		}
	}
}

// stampMatches reports whether the staged file at full is still the one a
// close vouched for (an unknown stamp matches).
func stampMatches(s index.Stamp, full string) bool {
	if !s.Known() {
		return true
	}
	fi, err := os.Lstat(full)
	return err == nil && fi.Size() == s.Size && fi.ModTime().Equal(s.MTime)
}

// errChangedBehind: the staged file is not as it was when its close
// vouched for it: changed behind chatfs's back, or cut between mounts.
var errChangedBehind = errors.New("the file changed outside chatfs after it was closed (damaged or cut between mounts?); write it again, or touch it if it is whole")

// errGone: the staged file disappeared or is no longer a regular file.
var errGone = errors.New("staged file is gone")

// errStale: the staged file changed while it was being sent; what the
// server got is not its content. The change settles it again.
var errStale = errors.New("staged file changed while it was sent")

// send uploads the staged file at full.
func (o *Outbox) send(ctx context.Context, rel, full string, stamp index.Stamp, sent *atomic.Int64) (remote.UploadResult, index.File, error) {
	f, err := os.OpenFile(full, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return remote.UploadResult{}, index.File{}, errGone
		}
		return remote.UploadResult{}, index.File{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return remote.UploadResult{}, index.File{}, errGone
	}
	if st.Size() > o.app.opts.MaxSize {
		return remote.UploadResult{}, index.File{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, st.Size(), o.app.opts.MaxSize)
	}
	if st.Size() == 0 {
		return remote.UploadResult{}, index.File{}, ErrEmpty
	}
	if s := stamp; s.Known() && (s.Size != st.Size() || !s.MTime.Equal(st.ModTime())) {
		return remote.UploadResult{}, index.File{}, fmt.Errorf("%w: %d bytes and modified %s when it was closed, %d bytes and modified %s now",
			errChangedBehind, s.Size, s.MTime.UTC().Format(time.RFC3339Nano), st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano))
	}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	mime := sniff(head[:n], "")
	if !isImage(mime) {
		if _, pending := o.thumbSibling(rel); pending {
			return remote.UploadResult{}, index.File{}, errThumbFirst
		}
	}
	req := remote.UploadRequest{
		Name:     path.Base(rel),
		File:     progressFile{f, sent},
		Size:     st.Size(),
		Restrict: o.app.opts.Restrict,
	}
	if isImage(mime) {
		req.ThumbWidth, req.ThumbHeight = o.app.opts.ThumbWidth, o.app.opts.ThumbHeight
	}
	res, err := o.app.opts.Remote.Upload(ctx, req)
	if err != nil {
		return res, index.File{}, err
	}
	if after, serr := os.Lstat(full); serr != nil || !os.SameFile(st, after) || after.Size() != st.Size() || !after.ModTime().Equal(st.ModTime()) {
		// Rewritten or replaced while we sent it: what the server has is stale.
		return res, index.File{}, errStale
	}
	uploaded := res.Timestamp
	if uploaded.IsZero() {
		uploaded = o.app.opts.Now()
	}
	return res, index.File{
		App:         o.app.opts.Name,
		UUID:        res.UUID,
		Name:        path.Base(rel),
		Folder:      o.folder(rel),
		ShareSecret: shareSecret(res, o.app.opts.Restrict),
		URL:         res.URL(),
		Size:        st.Size(),
		MIME:        mime,
		Uploaded:    uploaded,
		Expires:     uploaded.Add(o.app.opts.Retention),
		HasThumb:    isImage(mime),
	}, nil
}

// folder is the folder of by-name/ a file staged at rel is linked in: its
// folder in upload/ at upload time; send/ keeps by-name/ flat.
func (o *Outbox) folder(rel string) string {
	if d := path.Dir(rel); !o.sends && d != "." {
		return d
	}
	return ""
}

// shareSecret keeps the secret only for restricted files: the service
// answers one for every upload, but only restricted files need it.
func shareSecret(res remote.UploadResult, restrict bool) string {
	if restrict {
		return res.ShareSecret
	}
	return ""
}

// finish records an uploaded file and moves its staged bytes into the
// download cache, out of upload/. The record is written first (as Done), so
// a crash between the two steps is finished by recover, not re-uploaded.
func (o *Outbox) finish(ctx context.Context, rel, full string, res remote.UploadResult, file index.File) error {
	idx, app := o.app.opts.Index, o.queue
	o.mu.Lock()
	if ctx.Err() != nil || o.hasWriterAtOrAboveLocked(rel) {
		// A writer, or a rename of a folder above rel under way (fs/ holds
		// the folder as a brief writer): the staged file may move before
		// it is adopted, and be uploaded again under its new name.
		o.mu.Unlock()
		return errStale
	}
	fin := make(chan struct{})
	o.finishing[rel] = fin
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		delete(o.finishing, rel)
		close(fin)
		o.mu.Unlock()
	}()

	if err := o.checkNewUUID(file.UUID); err != nil {
		return err
	}
	o.linkThumb(rel, &file)
	if err := idx.Complete(app, rel, &file); err != nil {
		return err
	}
	// Before the file leaves upload/: a status read in between sees it in
	// one place or both, never in neither.
	msgID := ""
	if file.Msg != nil {
		msgID = file.Msg.MsgID
	}
	o.noteLanded(rel, file.UUID, msgID, file.Size)
	o.noteThumb(rel, file)
	if err := o.app.opts.Cache.Adopt(file.UUID, full); err != nil {
		o.app.log.Error("outbox: move uploaded file to cache", "path", rel, "err", err)
		if rerr := os.Remove(full); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return err
		}
	}
	if err := idx.Remove(app, rel); err != nil {
		return err
	}
	if file.HasThumb {
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			o.app.prefetch(o.ctx, Entry{file: file, Thumb: true})
		}()
	}
	return nil
}

// checkNewUUID refuses an upload answer naming a uuid the index already
// holds: the server gives every upload a new uuid, so such an answer is
// wrong, and recording it would overwrite another file's record. It is a
// malformed answer: retried with backoff, the reason shown meanwhile.
func (o *Outbox) checkNewUUID(uuid string) error {
	old, err := o.app.opts.Index.Get(o.app.opts.Name, uuid)
	switch {
	case errors.Is(err, index.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%w: the server answered uuid %s, which already names %q", remote.ErrMalformedAnswer, uuid, old.Name)
}

// prefetch fills the cache with an entry in the background (thumbnails of
// new uploads, so that file managers and stat see them at once).
// It stops with ctx (the outbox's, cancelled at close).
func (a *App) prefetch(ctx context.Context, e Entry) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	h, err := a.Open(ctx, e)
	if err != nil {
		return
	}
	defer h.Close()
	_, _ = io.Copy(io.Discard, io.NewSectionReader(readerAt{ctx, h}, 0, 1<<40))
}

// readerAt adapts a cache handle to io.ReaderAt with a fixed context.
type readerAt struct {
	ctx context.Context
	h   interface {
		ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	}
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) { return r.h.ReadAt(r.ctx, p, off) }

// kickAfter wakes an uploader after d, when a retry is due.
func (o *Outbox) kickAfter(d time.Duration) { time.AfterFunc(d, o.kick) }

// permanent reports failures that retrying will not mend.
func permanent(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrEmpty) || errors.Is(err, errChangedBehind) || errors.Is(err, errNoTarget) ||
		remote.IsInvalid(err) || remote.IsTooLarge(err) || remote.IsAppNotFound(err)
}

// reason is the text shown in user.chatfs.error.
func reason(err error) string { return err.Error() }

// retryWait is the pause after a failed attempt of an upload that had
// failed n times before: base·2ⁿ, capped at maxRetryBackoff, with equal
// jitter (half of it fixed, half random).
func retryWait(base time.Duration, n int) time.Duration {
	return backoff.Policy{Initial: base, Max: maxRetryBackoff, Jitter: backoff.Equal}.Delay(n + 1)
}
