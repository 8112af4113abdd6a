package thumbs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // server thumbnails of GIF images
	_ "image/jpeg"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/image/draw"
)

// Stats count what a Cache did with the items it took up.
type Stats struct {
	Written  int64 // thumbnails written
	UpToDate int64 // found up to date (same Thumb::URI and Thumb::MTime): left alone
	Failed   int64 // could not be made (no thumbnail from the server, not an image)
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Item is one file as a folder listing shows it.
type Item struct {
	Path  string    // absolute path, as listed (a symlink's own path, not its target's)
	MTime time.Time // the mtime stat gives for Path (following a symlink)
	Size  int64     // the file's size for Thumb::Size; < 0 when unknown
	MIME  string    // the file's type for Thumb::Mime; "" when unknown
	// Fetch returns the server's thumbnail of the file: JPEG, PNG or GIF
	// bytes, never the file itself.
	Fetch func(ctx context.Context) ([]byte, error)
}

// Options configure a Cache. Zero fields take defaults.
type Options struct {
	Dir     string // the thumbnail cache, as Dir() gives it (required, absolute)
	Workers int    // thumbnails made at once; default 2
	// Queue bounds the items waiting; offers beyond it are dropped (the
	// next listing offers them again). Default 4096.
	Queue  int
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
}

// retryFailed is how long a thumbnail that could not be made (the server
// failed, or sent no image) is not tried again.
const retryFailed = 10 * time.Minute

// Limits on what is decoded: a server thumbnail is small.
const (
	maxSourceBytes  = 4 << 20
	maxSourcePixels = 4096 * 4096
	// maxDone bounds the memory of paths already handled; past it, it
	// starts afresh (a re-offered path then costs one read of its
	// thumbnail's header).
	maxDone = 1 << 16
)

// Cache fills a thumbnail cache. Its methods are safe for concurrent use.
type Cache struct {
	// read only after New
	dir     string // Options.Dir/normal
	workers int
	queue   int
	log     *slog.Logger
	now     func() time.Time
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup // workers; Add under mu while !closed

	mu      sync.Mutex
	pending []Item               // waiting, oldest first. GUARDED_BY(mu)
	queued  map[string]bool      // paths pending or being made. GUARDED_BY(mu)
	done    map[string]int64     // path -> mtime handled (written, or up to date). GUARDED_BY(mu)
	failed  map[string]time.Time // path -> when to try again. GUARDED_BY(mu)
	running int                  // workers. GUARDED_BY(mu)
	stats   Stats                // GUARDED_BY(mu)
	closed  bool                 // GUARDED_BY(mu)
}

// New returns a Cache writing under o.Dir. It touches no file until items
// are offered.
func New(o Options) (*Cache, error) {
	if !filepath.IsAbs(o.Dir) {
		return nil, fmt.Errorf("thumbs: the thumbnail directory %q is not absolute", o.Dir)
	}
	if err := checkOwner(o.Dir); err != nil {
		return nil, err
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Cache{
		dir:     filepath.Join(o.Dir, "normal"),
		workers: o.Workers,
		queue:   o.Queue,
		log:     o.Logger,
		now:     o.Now,
		queued:  make(map[string]bool),
		done:    make(map[string]int64),
		failed:  make(map[string]time.Time),
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// File is where the thumbnail of path goes.
func (c *Cache) File(path string) string { return filepath.Join(c.dir, Name(URI(path))) }

// Offer queues items for their thumbnails, in the background, and returns
// at once. Items handled already at the same mtime, and items already
// waiting, are skipped.
func (c *Cache) Offer(items []Item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	for _, it := range items {
		if it.Fetch == nil || c.queued[it.Path] || len(c.pending) >= c.queue {
			continue
		}
		if m, ok := c.done[it.Path]; ok && m == mtimeOf(it.MTime) {
			continue
		}
		if at, ok := c.failed[it.Path]; ok && c.now().Before(at) {
			continue
		}
		c.queued[it.Path] = true
		c.pending = append(c.pending, it)
	}
	for c.running < c.workers && c.running < len(c.pending) {
		c.running++
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.work()
		}()
	}
}

// work makes thumbnails until none waits.
func (c *Cache) work() {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 || c.ctx.Err() != nil {
			c.running--
			c.mu.Unlock()
			return
		}
		it := c.pending[0]
		c.pending[0] = Item{}
		c.pending = c.pending[1:]
		c.mu.Unlock()

		wrote, err := c.make(it)
		c.mu.Lock()
		delete(c.queued, it.Path)
		if len(c.done) >= maxDone || len(c.failed) >= maxDone {
			clear(c.done)
			clear(c.failed)
		}
		switch {
		case err == nil:
			c.done[it.Path] = mtimeOf(it.MTime)
			delete(c.failed, it.Path)
			if wrote {
				c.stats.Written++
			} else {
				c.stats.UpToDate++
			}
		case !errors.Is(err, context.Canceled):
			c.failed[it.Path] = c.now().Add(retryFailed)
			c.stats.Failed++
		}
		c.mu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Debug("thumbs: no desktop thumbnail", "path", it.Path, "err", err)
		}
	}
}

// make writes it's thumbnail unless an up-to-date one exists, and reports
// whether it wrote one.
func (c *Cache) make(it Item) (bool, error) {
	uri := URI(it.Path)
	dst := filepath.Join(c.dir, Name(uri))
	mtime := mtimeOf(it.MTime)
	if upToDate(dst, uri, mtime) {
		return false, nil
	}
	src, err := it.Fetch(c.ctx)
	if err != nil {
		return false, err
	}
	p, err := encode(src)
	if err != nil {
		return false, err
	}
	kv := []string{KeyURI, uri, KeyMTime, strconv.FormatInt(mtime, 10)}
	if it.Size >= 0 {
		kv = append(kv, KeySize, strconv.FormatInt(it.Size, 10))
	}
	if it.MIME != "" && isASCII(it.MIME) {
		kv = append(kv, KeyMime, it.MIME)
	}
	if p, err = withText(p, kv...); err != nil {
		return false, err
	}
	return true, c.write(dst, p)
}

// encode decodes a server thumbnail and returns it as a PNG that fits
// NormalSize × NormalSize, keeping its aspect ratio and never enlarging.
func encode(src []byte) ([]byte, error) {
	if len(src) > maxSourceBytes {
		return nil, fmt.Errorf("thumbs: a thumbnail of %d bytes", len(src))
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("thumbs: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxSourcePixels {
		return nil, fmt.Errorf("thumbs: a thumbnail of %d×%d pixels", cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("thumbs: %w", err)
	}
	w, h := fit(cfg.Width, cfg.Height, NormalSize)
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	var out bytes.Buffer
	if err := png.Encode(&out, dst); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// fit scales w×h down to fit box×box, keeping the aspect ratio (each side
// at least 1); a size that fits already is kept.
func fit(w, h, box int) (int, int) {
	if w <= box && h <= box {
		return w, h
	}
	if w >= h {
		return box, max(1, (h*box+w/2)/w)
	}
	return max(1, (w*box+h/2)/h), box
}

// write puts p at dst atomically: a temp file (0600) in dst's folder,
// renamed over dst, as the standard asks, so that a reader never sees a
// partial thumbnail. The folders are made 0700 when missing.
func (c *Cache) write(dst string, p []byte) error {
	if err := os.MkdirAll(filepath.Dir(c.dir), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	f, err := os.CreateTemp(c.dir, ".chatfs-*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// Close stops making thumbnails: the one being fetched is cancelled, the
// waiting ones are dropped, and Close waits for the workers. Offers after
// Close are ignored.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.pending = nil
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// checkOwner refuses a thumbnail cache that is not the running user's: its
// nearest existing folder must belong to the user (or be a sticky shared
// folder like /tmp, in which the user's own folder is made). A chatfs run
// as root with another user's HOME would otherwise leave thumbnails that
// user cannot read in their cache.
func checkOwner(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			sys, ok := st.Sys().(*syscall.Stat_t)
			if !ok || int(sys.Uid) == os.Geteuid() || st.Mode()&os.ModeSticky != 0 {
				return nil
			}
			return fmt.Errorf("thumbs: %s belongs to uid %d, not to this user (uid %d): not writing thumbnails there", p, sys.Uid, os.Geteuid())
		}
		if !errors.Is(err, os.ErrNotExist) || filepath.Dir(p) == p {
			return err
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
