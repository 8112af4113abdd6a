package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Open returns a Handle on key's bytes. If key is complete on disk the
// Handle reads the file; otherwise it joins the fill of key that is running,
// or starts one with fetch, and reads bytes as they arrive. size is the
// entry's size if the caller knows it, else -1; a fill that receives a
// different number of bytes fails with ErrSizeMismatch.
//
// Open does not wait for the download: fetch errors reach the Handle's
// ReadAt and WaitSize. ctx only bounds Open itself (waiting for a concurrent
// Adopt or deletion of key); the fill runs on a context detached from it,
// which only Cache.Close cancels, and outlives every reader. Close the
// Handle when done. After Close, Open returns ErrClosed.
func (c *Cache) Open(ctx context.Context, key string, size int64, fetch Fetcher) (*Handle, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if fetch == nil {
		return nil, errors.New("cache: Open without a Fetcher")
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		e := c.entries[key]
		if e != nil && e.busy != nil {
			busy := e.busy
			c.mu.Unlock()
			select {
			case <-busy:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		if e != nil && e.complete && (e.check != nil || size >= 0 && size != e.size) {
			if err := c.checkLocked(key, e, size); err != nil {
				return nil, err
			}
			continue // checked (and dropped if damaged): look again
		}
		if e != nil && e.complete {
			e.open++
			e.removed = false
			e.atime = c.o.Now()
			c.stats.Hits++
			n := e.size
			c.mu.Unlock()
			file, err := os.Open(c.path(key))
			if err == nil {
				return &Handle{c: c, key: key, e: e, file: file, size: n}, nil
			}
			c.lostFile(key, e)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted behind our back: fill it again
			}
			return nil, fmt.Errorf("cache: %w", err)
		}
		if e == nil {
			e = &entry{}
			c.entries[key] = e
		}
		f, start := e.fill, false
		var done func()
		if f == nil {
			var fctx context.Context
			fctx, done = c.fillContext(ctx)
			f = newFill(c, key, size, fetch, fctx)
			f.refs = 1 // the fill's own goroutine
			e.fill, start = f, true
			c.stats.Fills++
			c.running.Add(1) // under mu, so Close's Wait sees it
		} else {
			c.stats.Joins++
		}
		f.refs++
		e.open++
		e.removed = false
		e.atime = c.o.Now()
		c.mu.Unlock()
		if start {
			go func() {
				defer c.running.Done()
				defer done()
				f.run(e)
			}()
		}
		return &Handle{c: c, key: key, e: e, f: f, size: -1}, nil
	}
}

// fillContext makes a fill's context: the values of the opener's ctx, none
// of its cancellation (one interrupted reader must not abort the fill the
// others share), cancelled by Close. Call done when the fill has ended: it
// unhooks the context from Close (its parent cannot be cancelled, so
// nothing else holds it).
func (c *Cache) fillContext(ctx context.Context) (fctx context.Context, done func()) {
	fctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.ctx, func() { cancel(ErrClosed) })
	return fctx, func() { stop() }
}

// checkLocked checks a complete entry before its first use: against the
// record of a file found on disk (verify.go), and against the size the
// opener knows. A damaged entry is deleted, so that the caller's next look
// starts a fill. It unlocks c.mu; the caller looks at the entry again.
// An entry of the wrong size that other Handles hold open cannot be
// deleted under them: it is marked removed and the opener gets
// ErrSizeMismatch. LOCKS_REQUIRED(c.mu)
func (c *Cache) checkLocked(key string, e *entry, size int64) error {
	if size >= 0 && size != e.size && !e.idle() {
		e.removed = true
		c.mu.Unlock()
		return fmt.Errorf("%w: cached %d bytes, expected %d", ErrSizeMismatch, e.size, size)
	}
	want := e.check
	e.check = nil
	e.busy = make(chan struct{})
	c.mu.Unlock()
	var err error
	if size >= 0 && size != e.size {
		err = fmt.Errorf("%w: cached %d bytes, expected %d", ErrSizeMismatch, e.size, size)
	} else if want != nil {
		err = verifyFile(c.path(key), *want)
	}
	c.mu.Lock()
	close(e.busy)
	e.busy = nil
	if err == nil {
		c.mu.Unlock()
		return nil
	}
	c.log.Warn("cache: entry damaged, fetching it again", "key", key, "err", err)
	if !e.idle() || !e.complete {
		c.mu.Unlock()
		return nil
	}
	c.beginDeleteLocked(e)
	c.mu.Unlock()
	if err := c.finishDelete(key, e); err != nil {
		return err
	}
	return nil
}

// lostFile drops a complete entry whose file could not be opened, after
// Open counted a Handle on it.
func (c *Cache) lostFile(key string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.open--
	if e.complete {
		c.used -= e.size
		c.files--
		e.complete = false
	}
	if e.idle() {
		delete(c.entries, key)
	}
}

// settleLocked tidies an entry that a fill or a handle has just let go of:
// once nothing uses it, a removed entry starts its deletion (the caller
// finishes it outside the lock when del is true) and an incomplete one (a
// failed fill, or a removed one) is dropped. LOCKS_REQUIRED(c.mu)
func (c *Cache) settleLocked(key string, e *entry) (del bool) {
	switch {
	case !e.idle():
	case e.removed && e.complete:
		c.beginDeleteLocked(e)
		return true
	case !e.complete:
		delete(c.entries, key)
	}
	return false
}

// release is Handle.Close's bookkeeping: the entry is no longer open by h,
// the fill's file is closed after its last user, and a removed entry is
// deleted after its last Handle.
func (c *Cache) release(h *Handle) {
	e := h.e
	c.mu.Lock()
	e.open--
	now := c.o.Now()
	e.atime = now
	lastRef := false
	if h.f != nil {
		h.f.refs--
		lastRef = h.f.refs == 0
	}
	del := c.settleLocked(h.key, e)
	touch := e.complete && !del
	c.mu.Unlock()
	if lastRef {
		h.f.closeReader()
	}
	if del {
		if err := c.finishDelete(h.key, e); err != nil {
			c.log.Warn("cache: delete removed entry", "key", h.key, "err", err)
		}
	}
	if touch {
		// Keep the last access on disk, where the next Open finds it.
		_ = os.Chtimes(c.path(h.key), now, now)
		// Evictable now: give its room back if the disk lacks MinFree.
		c.evict()
	}
}

// Adopt moves the fully written file at path into the cache as key's
// complete entry, so chatfs never downloads its own uploads. path should be
// on the same filesystem as the cache: it is renamed; if the rename fails
// (EXDEV across filesystems, among others) it is copied, synced and renamed
// from a temporary file, and then deleted. If key is already complete or
// filling, that entry is kept and path is deleted.
func (c *Cache) Adopt(key, path string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cache: adopt: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("cache: adopt %s: not a regular file", path)
	}
	var e *entry
	for e == nil {
		c.mu.Lock()
		cur := c.entries[key]
		switch {
		case cur != nil && cur.busy != nil:
			busy := cur.busy
			c.mu.Unlock()
			<-busy
			continue
		case cur != nil && (cur.complete || cur.fill != nil):
			cur.removed = false
			cur.atime = c.o.Now()
			c.mu.Unlock()
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cache: adopt: %w", err)
			}
			return nil
		case cur == nil:
			cur = &entry{}
			c.entries[key] = cur
		}
		cur.busy = make(chan struct{})
		e = cur
		c.mu.Unlock()
	}
	now := c.o.Now()
	size, err := c.moveIn(key, path)
	if err == nil {
		sumFile(c.path(key), c.log)
		// The last access, where the next Open finds it.
		_ = os.Chtimes(c.path(key), now, now)
	}
	c.mu.Lock()
	close(e.busy)
	e.busy = nil
	if err == nil {
		e.removed = false
		c.setCompleteLocked(e, size, now)
	} else if e.idle() {
		delete(c.entries, key)
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cache: adopt: %w", err)
	}
	c.evict()
	return nil
}

// moveIn puts the file at path under key's final name and returns its size.
func (c *Cache) moveIn(key, path string) (int64, error) {
	final := c.path(key)
	if err := os.Rename(path, final); err == nil {
		if err := os.Chmod(final, 0o600); err != nil {
			return 0, err
		}
		fi, err := os.Stat(final)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	src, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	tmp := c.path(key) + tmpSuffix
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("cache: adopt: delete copied source", "path", path, "err", err)
	}
	return n, nil
}
