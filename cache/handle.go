package cache

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
)

// Handle reads one entry's bytes, complete or filling. Its methods are safe
// for concurrent use, except that none may be called after (or during)
// Close. An open Handle keeps its entry from being evicted or deleted.
type Handle struct {
	// Read only.
	c    *Cache
	key  string
	e    *entry
	f    *fill    // the fill the Handle follows; nil when opened complete
	file *os.File // the complete entry's file when f == nil
	size int64    // the complete entry's size when f == nil

	closed atomic.Bool
}

// errNegativeOffset answers a ReadAt at a negative offset.
var errNegativeOffset = errors.New("cache: negative offset")

// ReadAt reads len(p) bytes at off. It blocks until they are on disk or the
// fill ends, and never returns bytes beyond those written. It returns a short
// read with io.EOF only at the end of a complete entry (0, io.EOF for off at
// or past it); the fill's error if the fill failed before off+len(p); and
// ctx.Err() if ctx ends first, which does not disturb the fill.
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if h.closed.Load() {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, errNegativeOffset
	}
	if h.f == nil {
		return readFile(h.file, p, off, h.size)
	}
	return h.f.readAt(ctx, p, off)
}

// readFile reads p at off from a complete file of size bytes.
func readFile(file *os.File, p []byte, off, size int64) (int, error) {
	if off >= size {
		return 0, io.EOF
	}
	want := int64(len(p))
	if rest := size - off; rest < want {
		want = rest
	}
	n, err := file.ReadAt(p[:want], off)
	if err == nil && int(want) < len(p) {
		err = io.EOF
	}
	return n, err
}

// readAt waits until p at off is filled, or the fill ends, then reads.
func (f *fill) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	for {
		f.mu.Lock()
		rf, filled := f.rf, f.filled
		switch {
		case f.done && f.err == nil:
			f.mu.Unlock()
			return readFile(rf, p, off, filled)
		case filled >= end:
			f.mu.Unlock()
			return rf.ReadAt(p, off)
		case f.done:
			err := f.err
			f.mu.Unlock()
			n := 0
			if off < filled {
				n, _ = rf.ReadAt(p[:filled-off], off)
			}
			return n, err
		}
		changed := f.waitLocked()
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Size returns the entry's size: known from the start for a complete entry
// or when the opener gave it, else -1 until the Fetcher announced it or the
// fill completed.
func (h *Handle) Size() int64 {
	if h.f == nil {
		return h.size
	}
	return h.f.knownSize()
}

// WaitSize waits until the Fetcher has answered (or the fill has ended),
// then returns Size(), which is still -1 if the Fetcher announced no size
// and the fill runs on. It returns the fill's error if the fill failed, and
// ctx.Err() if ctx ends first.
func (h *Handle) WaitSize(ctx context.Context) (int64, error) { return h.wait(ctx, true) }

// Wait waits until all the entry's bytes are on disk and returns its size,
// or returns the fill's error if the fill failed, or ctx.Err() if ctx ends
// first (which does not disturb the fill).
func (h *Handle) Wait(ctx context.Context) (int64, error) { return h.wait(ctx, false) }

// wait waits until the fill has ended, or (answered) until the Fetcher
// has answered: the fill's size, its error, or ctx.Err().
func (h *Handle) wait(ctx context.Context, answered bool) (int64, error) {
	if h.closed.Load() {
		return -1, os.ErrClosed
	}
	if h.f == nil {
		return h.size, nil
	}
	f := h.f
	for {
		f.mu.Lock()
		switch {
		case f.done && f.err != nil:
			err := f.err
			f.mu.Unlock()
			return -1, err
		case f.done:
			n := f.filled
			f.mu.Unlock()
			return n, nil
		case answered && f.answered:
			n := f.size
			f.mu.Unlock()
			return n, nil
		}
		changed := f.waitLocked()
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}

// Complete reports whether all the entry's bytes are on disk.
func (h *Handle) Complete() bool {
	if h.f == nil {
		return true
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.f.done && h.f.err == nil
}

// File returns a read-only file holding the complete entry, for FUSE
// passthrough, and true; or nil, false while the entry is incomplete. The
// file belongs to the Handle (and may be shared with other Handles of the
// same fill): do not close it; it stays valid until Close.
func (h *Handle) File() (*os.File, bool) {
	if h.closed.Load() {
		return nil, false
	}
	if h.f == nil {
		return h.file, true
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if !h.f.done || h.f.err != nil {
		return nil, false
	}
	return h.f.rf, true
}

// Close releases the Handle. The entry becomes evictable once no Handle is
// open on it and no fill runs; a removed entry is deleted then. Close
// returns os.ErrClosed if called twice.
func (h *Handle) Close() error {
	if h.closed.Swap(true) {
		return os.ErrClosed
	}
	var err error
	if h.file != nil {
		err = h.file.Close()
	}
	h.c.release(h)
	return err
}
