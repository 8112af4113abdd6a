package cache

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/chatfs/chatfs/internal/backoff"
)

// copyBufSize is the size of the reads from a body, and so of the steps in
// which readers see a fill progress.
const copyBufSize = 128 << 10

// fill is one download of a key into Dir/<key>.partial, shared by every
// Handle opened while it runs.
type fill struct {
	// Read only.
	c     *Cache
	key   string
	fetch Fetcher
	ctx   context.Context // detached from every reader

	// refs counts the Handles on this fill plus one for its own goroutine;
	// the reading file rf is closed when it drops to zero.
	// GUARDED_BY(Cache.mu)
	refs int

	// mu protects the following; never held with Cache.mu.
	mu       sync.Mutex
	rf       *os.File      // read-only file on the partial; set before any byte is published
	filled   int64         // bytes written to the partial, readable through rf
	size     int64         // the announced size, -1 while unknown
	answered bool          // the Fetcher has answered once
	done     bool          // the fill has ended; err says how
	err      error         // why the fill failed; nil with done means complete
	changed  chan struct{} // closed when any field above changes, if waiting
	waiting  bool          // someone waits on changed
}

func newFill(c *Cache, key string, size int64, fetch Fetcher, ctx context.Context) *fill {
	if size < 0 {
		size = -1
	}
	return &fill{c: c, key: key, fetch: fetch, ctx: ctx, size: size, changed: make(chan struct{})}
}

// notifyLocked wakes every waiter. LOCKS_REQUIRED(f.mu)
func (f *fill) notifyLocked() {
	if f.waiting {
		close(f.changed)
		f.changed = make(chan struct{})
		f.waiting = false
	}
}

// waitLocked returns a channel closed at the next change; the caller
// unlocks f.mu before waiting on it. LOCKS_REQUIRED(f.mu)
func (f *fill) waitLocked() <-chan struct{} {
	f.waiting = true
	return f.changed
}

// knownSize returns the size once known: announced, or complete.
func (f *fill) knownSize() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done && f.err == nil {
		return f.filled
	}
	return f.size
}

// closeReader closes rf after the last user of the fill has gone.
func (f *fill) closeReader() {
	f.mu.Lock()
	rf := f.rf
	f.rf = nil
	f.mu.Unlock()
	if rf != nil {
		_ = rf.Close()
	}
}

// run downloads the entry, publishes the outcome to the cache and to the
// readers, and applies the size bound. It is the fill's goroutine.
func (f *fill) run(e *entry) {
	var n int64
	err := f.c.acquireSlot(f)
	if err == nil {
		n, err = f.download()
		<-f.c.slots
	}
	if err != nil {
		err = fmt.Errorf("cache: fill %s: %w", f.key, err)
		f.c.log.Info("cache: fill failed", "key", f.key, "bytes", n, "err", err)
	}
	c := f.c
	c.mu.Lock()
	e.fill = nil
	f.refs--
	lastRef := f.refs == 0
	if err == nil {
		c.setCompleteLocked(e, n, c.o.Now())
	}
	del := c.settleLocked(f.key, e)
	c.mu.Unlock()

	f.mu.Lock()
	f.done, f.err, f.answered = true, err, true
	if err == nil {
		f.size = n
	}
	f.notifyLocked()
	f.mu.Unlock()
	if lastRef {
		f.closeReader()
	}
	if del {
		if err := c.finishDelete(f.key, e); err != nil {
			c.log.Warn("cache: delete removed entry", "key", f.key, "err", err)
		}
	}
	if err == nil {
		c.evict()
	}
}

// acquireSlot waits for one of the MaxDownloads slots, or for Close.
// The caller gives the slot back by receiving from c.slots.
func (c *Cache) acquireSlot(f *fill) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	c.mu.Lock()
	c.stats.Queued++
	c.mu.Unlock()
	select {
	case c.slots <- struct{}{}:
		// A slot freed by Close: do not start. c.ctx is cancelled before
		// any fill's own context (those follow it in AfterFunc goroutines),
		// so it is the one that tells.
		if c.ctx.Err() != nil {
			<-c.slots
			return context.Cause(c.ctx)
		}
		if f.ctx.Err() != nil {
			<-c.slots
			return context.Cause(f.ctx)
		}
		return nil
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	case <-f.ctx.Done():
		return context.Cause(f.ctx)
	}
}

// download writes the entry to the partial file, records its size and
// checksum on it, and renames it to its final name. It returns the bytes written. On error the partial file is
// deleted (readers keep reading it through rf).
func (f *fill) download() (int64, error) {
	path := f.c.partialPath(f.key)
	wf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	rf, err := os.Open(path)
	if err != nil {
		_ = wf.Close()
		_ = os.Remove(path)
		return 0, err
	}
	f.mu.Lock()
	f.rf = rf
	f.mu.Unlock()

	p, err := f.copyWithRetry(wf)
	n := p.filled
	if err == nil && !recordSum(wf, n, p.sum.Sum32(), f.c.log) {
		// No fsync otherwise: an entry can be fetched again, and its
		// record lets the Cache that finds it after a crash tell a torn
		// file from a whole one (verify.go). A file that cannot carry a
		// record has nothing else to vouch for it: it is synced.
		err = wf.Sync()
	}
	if cerr := wf.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path, f.c.path(f.key))
	}
	if err != nil {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			f.c.log.Warn("cache: delete partial", "path", path, "err", rerr)
		}
	}
	return n, err
}

// progress is where a fill stands between attempts. Only the fill's
// goroutine uses it.
type progress struct {
	filled int64
	size   int64       // -1 while unknown
	sum    hash.Hash32 // crc32c of the bytes written, recorded with the entry
}

// copyWithRetry fetches and writes the body. A body cut after bytes
// arrived (a retryable error) is resumed at the offset reached, up to
// FillAttempts fetches in all; a fetch that fails before any byte arrives
// ends the fill, since the Fetcher's client has already retried it. A body
// whose length nobody announced is confirmed before it counts as complete.
func (f *fill) copyWithRetry(wf *os.File) (progress, error) {
	f.mu.Lock()
	p := progress{size: f.size, sum: newSum()}
	f.mu.Unlock()
	buf := make([]byte, copyBufSize)
	pause := backoff.Policy{Initial: f.c.o.Backoff}
	for attempt := 1; ; attempt++ {
		before := p.filled
		retry, err := f.attempt(wf, buf, &p)
		if err == nil {
			return p, f.confirm(&p)
		}
		if !retry || !f.c.o.Retryable(err) {
			return p, err
		}
		if p.size >= 0 && p.filled == p.size {
			// The body failed after its last byte: everything announced is here.
			return p, nil
		}
		if p.filled == before {
			return p, err
		}
		if attempt >= f.c.o.FillAttempts {
			return p, fmt.Errorf("after %d attempts: %w", attempt, err)
		}
		f.c.log.Debug("cache: fill resumes", "key", f.key, "offset", p.filled, "attempt", attempt, "err", err)
		if err := backoff.Sleep(f.ctx, pause.Delay(attempt)); err != nil {
			return p, err
		}
	}
}

// confirm checks the length of a body that ended cleanly without anyone
// announcing its size (HTTP/1.0 without Content-Length, chunked): such an
// end looks the same whether the body is whole or cut. One more fetch, of
// the last byte, must announce a total (a Content-Range total or a
// Content-Length) equal to the bytes received; otherwise the fill fails.
func (f *fill) confirm(p *progress) error {
	if p.size >= 0 {
		return nil
	}
	f.c.fetches.Add(1)
	body, _, size, err := f.fetch(f.ctx, max(p.filled-1, 0))
	if body != nil {
		body.Close()
	}
	switch {
	case err != nil:
		return fmt.Errorf("%w: %d bytes arrived; asking for the size: %v", ErrSizeUnconfirmed, p.filled, err)
	case size < 0:
		return fmt.Errorf("%w: %d bytes arrived and the server announces no size", ErrSizeUnconfirmed, p.filled)
	case size != p.filled:
		return fmt.Errorf("%w: body ended at %d bytes, the server announces %d", ErrSizeMismatch, p.filled, size)
	}
	p.size = size
	return nil
}

// attempt makes one fetch at p.filled and copies its body. retry reports
// whether err came from the Fetcher or the body (and may be retried);
// errors of the cache's own (size mismatch, disk) are final.
func (f *fill) attempt(wf *os.File, buf []byte, p *progress) (retry bool, err error) {
	f.c.fetches.Add(1)
	body, start, size, err := f.fetch(f.ctx, p.filled)
	if err != nil {
		return true, err
	}
	if body == nil {
		return false, errors.New("fetcher returned no body")
	}
	defer body.Close()
	if size >= 0 {
		if p.size >= 0 && size != p.size {
			return false, fmt.Errorf("%w: announced %d bytes, expected %d", ErrSizeMismatch, size, p.size)
		}
		p.size = size
	}
	f.mu.Lock()
	f.size, f.answered = p.size, true
	f.notifyLocked()
	f.mu.Unlock()

	if start != p.filled {
		if start != 0 {
			return false, fmt.Errorf("fetch at offset %d answered from offset %d", p.filled, start)
		}
		// The server ignored the range: skip what we already have.
		if _, err := io.CopyN(io.Discard, body, p.filled); err != nil {
			if errors.Is(err, io.EOF) {
				return false, fmt.Errorf("%w: body shorter than the %d bytes already received", ErrSizeMismatch, p.filled)
			}
			return true, err
		}
	}
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if p.size >= 0 && p.filled+int64(n) > p.size {
				return false, fmt.Errorf("%w: body longer than the %d bytes announced", ErrSizeMismatch, p.size)
			}
			if _, err := wf.Write(buf[:n]); err != nil {
				return false, err
			}
			_, _ = p.sum.Write(buf[:n])
			p.filled += int64(n)
			f.c.downloaded.Add(int64(n))
			f.mu.Lock()
			f.filled = p.filled
			f.notifyLocked()
			f.mu.Unlock()
		}
		switch {
		case rerr == io.EOF:
			if p.size >= 0 && p.filled < p.size {
				return false, fmt.Errorf("%w: body ended at %d of %d bytes", ErrSizeMismatch, p.filled, p.size)
			}
			return false, nil
		case rerr != nil:
			return true, rerr
		}
	}
}
