package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Suffixes of files the cache writes before they are complete. Keys may not
// end with them, and files with them are deleted when a Cache opens.
const (
	partialSuffix = ".partial" // a fill in progress
	tmpSuffix     = ".tmp"     // a copy made by Adopt
	maxKeyLen     = 100
)

// Cache is the download cache. It is safe for concurrent use.
//
// LOCK ORDERING: Cache.mu and fill.mu are never held at the same time, so
// there is no order between them. Neither is held across network or disk
// I/O: readers take fill.mu to learn how far the fill has got, then read the
// file with ReadAt without it; renames and unlinks of Dir/<key> run outside
// Cache.mu with the entry marked busy.
type Cache struct {
	// Read only after Open.
	dir   string
	o     Options
	log   *slog.Logger
	ctx   context.Context    // the fills' owner: cancelled by Close
	stop  context.CancelFunc // cancels ctx with ErrClosed
	slots chan struct{}      // one token per fill downloading, MaxDownloads deep

	// Updated atomically by fills, outside mu.
	fetches    atomic.Int64
	downloaded atomic.Int64
	running    sync.WaitGroup // fill goroutines, until their last bookkeeping; Add under mu

	mu     sync.Mutex
	closed bool // Close was called: no fill starts. GUARDED_BY(mu)
	// entries holds every key that is complete, filling, open or being
	// renamed/deleted. An entry with open > 0, fill != nil or busy != nil
	// stays in the map, so a Handle's *entry is always the map's. GUARDED_BY(mu)
	entries map[string]*entry
	used    int64 // bytes of complete entries; GUARDED_BY(mu)
	files   int64 // number of complete entries; GUARDED_BY(mu)
	stats   Stats // counters other than fetches/downloaded; GUARDED_BY(mu)
}

// entry is the in-memory record of one key. All fields are GUARDED_BY(Cache.mu).
type entry struct {
	complete bool          // Dir/<key> holds all size bytes
	size     int64         // the bytes of Dir/<key> when complete
	atime    time.Time     // last Open or Close, for LRU
	open     int           // Handles not yet closed
	removed  bool          // Remove was called while open or filling: delete when idle
	fill     *fill         // the running fill, nil if none
	busy     chan struct{} // non-nil while Dir/<key> is renamed in or deleted outside mu; closed after
	check    *record       // the record of a file found on disk, until its first Open checks it (verify.go)
}

// idle reports whether nothing uses e: it may be deleted or evicted.
// LOCKS_REQUIRED(Cache.mu)
func (e *entry) idle() bool { return e.open == 0 && e.fill == nil && e.busy == nil }

// Open opens (creating if needed) the cache in o.Dir. It deletes partial and
// temporary files left by a crash, and loads the sizes and modification
// times of complete entries for LRU accounting.
func Open(o Options) (*Cache, error) {
	if o.Dir == "" {
		return nil, errors.New("cache: Options.Dir is required")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.FillAttempts <= 0 {
		o.FillAttempts = DefaultFillAttempts
	}
	if o.Retryable == nil {
		o.Retryable = func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxDownloads <= 0 {
		o.MaxDownloads = DefaultMaxDownloads
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c := &Cache{dir: o.Dir, o: o, log: o.Logger, entries: make(map[string]*entry),
		slots: make(chan struct{}, o.MaxDownloads)}
	ctx, stop := context.WithCancelCause(context.Background())
	c.ctx, c.stop = ctx, func() { stop(ErrClosed) }
	if err := c.load(); err != nil {
		return nil, err
	}
	c.evict()
	return c, nil
}

// load scans the directory: partial and temporary files are deleted,
// complete entries are recorded. Files with other names are left alone.
func (c *Cache) load() error {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, partialSuffix) || strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(c.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cache: delete leftover: %w", err)
			}
			continue
		}
		if !ValidKey(name) || !de.Type().IsRegular() {
			c.log.Debug("cache: ignoring foreign file", "dir", c.dir, "name", name)
			continue
		}
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cache: %w", err)
		}
		e := &entry{}
		if r, ok := readSum(filepath.Join(c.dir, name)); ok {
			if r.size != fi.Size() {
				// Cut since it was complete: fetch it again.
				c.log.Warn("cache: entry cut, dropping it", "key", name, "size", fi.Size(), "recorded", r.size)
				if err := os.Remove(filepath.Join(c.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("cache: delete cut entry: %w", err)
				}
				continue
			}
			e.check = &r
		}
		c.entries[name] = e
		c.setCompleteLocked(e, fi.Size(), fi.ModTime())
	}
	return nil
}

// Close cancels every fill, running or queued, and waits until each has
// ended (its partial file deleted, its readers told ErrClosed). Open fails
// with ErrClosed afterwards; Handles already open stay readable where
// their bytes are on disk. Close the Cache only after its users (the apps)
// have stopped, and before the index they record into. Calling Close
// again does nothing.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.running.Wait()
	return nil
}

// ValidKey reports whether key may name a cache entry: only the bytes
// [0-9a-z.-], not starting with '.', at most 100 bytes, and not ending with
// one of the cache's temporary suffixes (".partial", ".tmp"). uuids and
// "<uuid>.thumb" are valid. Every method rejects invalid keys with
// ErrInvalidKey before touching the disk.
func ValidKey(key string) bool {
	if key == "" || len(key) > maxKeyLen || key[0] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		b := key[i]
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b == '.' || b == '-') {
			return false
		}
	}
	return !strings.HasSuffix(key, partialSuffix) && !strings.HasSuffix(key, tmpSuffix)
}

func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

func (c *Cache) path(key string) string        { return filepath.Join(c.dir, key) }
func (c *Cache) partialPath(key string) string { return filepath.Join(c.dir, key+partialSuffix) }

// Has reports whether key is complete on disk (and not removed).
func (c *Cache) Has(key string) bool {
	if !ValidKey(key) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	return e != nil && e.complete && !e.removed && e.busy == nil
}

// SizeOf returns the size of key when it is known: the entry is complete, or
// a running fill has learnt it from the opener or the Fetcher.
func (c *Cache) SizeOf(key string) (int64, bool) {
	if !ValidKey(key) {
		return -1, false
	}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil || e.removed || e.busy != nil {
		c.mu.Unlock()
		return -1, false
	}
	if e.complete {
		n := e.size
		c.mu.Unlock()
		return n, true
	}
	f := e.fill
	c.mu.Unlock()
	if f == nil {
		return -1, false
	}
	n := f.knownSize()
	return n, n >= 0
}

// Usage returns the bytes and number of complete entries on disk, removed
// entries that are still open included.
func (c *Cache) Usage() (bytes int64, files int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, int(c.files)
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := c.stats
	s.Bytes, s.Files = c.used, c.files
	c.mu.Unlock()
	s.Fetches = c.fetches.Load()
	s.Downloaded = c.downloaded.Load()
	return s
}

// Remove forgets key: its file is deleted. If the entry is open or filling,
// it is only marked, and deleted when the fill has ended and the last Handle
// is closed; open Handles keep reading. Has answers false at once. An Open
// of key before the deletion takes the entry back.
func (c *Cache) Remove(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	for {
		c.mu.Lock()
		e := c.entries[key]
		switch {
		case e == nil:
			c.mu.Unlock()
			return nil
		case e.busy != nil:
			busy := e.busy
			c.mu.Unlock()
			<-busy
			continue
		case e.open > 0 || e.fill != nil:
			e.removed = true
			c.mu.Unlock()
			return nil
		case !e.complete:
			delete(c.entries, key)
			c.mu.Unlock()
			return nil
		}
		c.beginDeleteLocked(e)
		c.mu.Unlock()
		return c.finishDelete(key, e)
	}
}

// setCompleteLocked records e as complete with size bytes, for accounting.
// LOCKS_REQUIRED(mu)
func (c *Cache) setCompleteLocked(e *entry, size int64, atime time.Time) {
	e.complete, e.size, e.atime = true, size, atime
	c.used += size
	c.files++
}

// beginDeleteLocked marks e busy and drops it from the accounting; the
// caller must call finishDelete after unlocking. e must be idle.
// LOCKS_REQUIRED(mu)
func (c *Cache) beginDeleteLocked(e *entry) {
	e.busy = make(chan struct{})
	if e.complete {
		c.used -= e.size
		c.files--
		e.complete = false
	}
	e.removed = false
}

// finishDelete deletes key's file and its entry, after beginDeleteLocked.
// No Open or fill can start on key in between: they wait for busy.
func (c *Cache) finishDelete(key string, e *entry) error {
	err := os.Remove(c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	c.mu.Lock()
	close(e.busy)
	e.busy = nil
	delete(c.entries, key)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}
