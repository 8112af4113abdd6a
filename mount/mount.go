// Package mount wires chatfs together: state directories, the index, the
// download cache, one remote client and core.App per app, and the FUSE
// server. main.go and the end-to-end tests build mounts with it.
package mount

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/chatfs/chatfs/cache"
	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/core"
	chatfs "github.com/chatfs/chatfs/fs"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// App is one app to mount with what it needs to talk to the service.
type App struct {
	config.App
	Tokens remote.TokenSource
}

// Options describe a mount.
type Options struct {
	Mountpoint string
	Dirs       config.Dirs
	CacheSize  int64
	// CacheMinFree is the space the download cache leaves free on its
	// disk (see cacheMinFree, the default); negative: none.
	CacheMinFree int64
	Apps         []App
	SettleDelay  time.Duration // default 1s
	Uploaders    int           // parallel uploads per app; default 4
	// MaxDownloads bounds the downloads that fill the cache at once, all
	// apps together; default cache.DefaultMaxDownloads (8).
	MaxDownloads int
	// UploadBackoff is the first pause after a failed upload (doubling up
	// to 10 minutes); default 2s.
	UploadBackoff time.Duration
	Retry         remote.RetryPolicy
	RateLimit     float64 // calls/s per app and kind; default the client's
	AllowOther    bool
	Debug         bool
	// NoPassthrough turns FUSE passthrough of cached files off.
	NoPassthrough bool
	Logger        *slog.Logger
	// Sync makes staged files durable; nil means fsync(2). Tests count it.
	Sync core.Syncer
}

// Mount is a live mount. It owns every goroutine of chatfs but the
// embedded emulator's: Close stops them in the order unmount → apps →
// cache → index (see Close).
type Mount struct {
	Server  *chatfs.Server
	Apps    []*core.App
	Index   *index.DB
	Cache   *cache.Cache
	clients []*remote.Client // one per app, closed last
	log     *slog.Logger
	mnt     string
	done    chan struct{} // closed when the FUSE server has stopped serving
	closed  bool
}

// New opens the state, builds the apps, starts their uploaders and mounts.
func New(ctx context.Context, o Options) (*Mount, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := CheckMountpoint(o.Mountpoint); err != nil {
		return nil, err
	}
	if err := o.Dirs.MakeDirs(); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	idx, err := index.Open(filepath.Join(o.Dirs.Data, "index"), index.Options{Logger: o.Logger})
	if err != nil {
		if errors.Is(err, index.ErrLocked) {
			return nil, inUse(o.Dirs.Data)
		}
		return nil, err
	}
	// Open reads every record once (the record log's check): give the
	// memory that took back to the system now, not over the minutes the
	// runtime's scavenger would take, so an idle mount stays small.
	debug.FreeOSMemory()
	m := &Mount{Index: idx, log: o.Logger, mnt: o.Mountpoint}
	fail := func(err error) (*Mount, error) {
		m.closeState(0)
		return nil, err
	}
	m.Cache, err = cache.Open(cache.Options{
		Dir:          filepath.Join(o.Dirs.Cache, "files"),
		MaxBytes:     o.CacheSize,
		MinFree:      cmp.Or(o.CacheMinFree, cacheMinFree),
		MaxDownloads: o.MaxDownloads,
		Retryable:    remote.IsRetryable,
		Logger:       o.Logger,
	})
	if err != nil {
		return fail(fmt.Errorf("download cache: %w", err))
	}
	for _, a := range o.Apps {
		app, client, err := newApp(o, a, idx, m.Cache)
		if client != nil {
			m.clients = append(m.clients, client)
		}
		if err != nil {
			return fail(fmt.Errorf("app %s: %w", a.Name, err))
		}
		m.Apps = append(m.Apps, app)
		if err := app.Start(ctx); err != nil {
			return fail(fmt.Errorf("app %s: %w", a.Name, err))
		}
	}
	m.Server, err = chatfs.Mount(o.Mountpoint, chatfs.Options{
		Apps:          m.Apps,
		CacheUsage:    m.Cache.Usage,
		NoPassthrough: o.NoPassthrough,
		AllowOther:    o.AllowOther,
		Debug:         o.Debug,
		Logger:        o.Logger,
	})
	if err != nil {
		return fail(fmt.Errorf("mount %s: %w", o.Mountpoint, err))
	}
	m.done = make(chan struct{})
	go func() { m.Server.Wait(); close(m.done) }()
	return m, nil
}

func newApp(o Options, a App, idx *index.DB, c *cache.Cache) (*core.App, *remote.Client, error) {
	ep := remote.Endpoint{BaseURL: a.Host, AppID: a.AppID, Org: a.Org, App: a.App.AppName}
	client, err := remote.New(remote.Options{
		Endpoint:  ep,
		Tokens:    a.Tokens,
		Retry:     o.Retry,
		RateLimit: o.RateLimit,
		Logger:    o.Logger.With("app", a.Name),
	})
	if err != nil {
		return nil, nil, err
	}
	w, h, err := a.Thumbnail()
	if err != nil {
		return nil, client, err
	}
	app, err := core.New(core.Options{
		Name:         a.Name,
		Remote:       client,
		Index:        idx,
		Cache:        c,
		OutboxDir:    filepath.Join(o.Dirs.Data, "outbox", a.Name),
		MaxSize:      a.MaxSize,
		Retention:    a.Retention,
		Restrict:     a.Restrict,
		ThumbWidth:   w,
		ThumbHeight:  h,
		SettleDelay:  o.SettleDelay,
		Uploaders:    o.Uploaders,
		RetryBackoff: o.UploadBackoff,
		Sync:         o.Sync,
		Logger:       o.Logger,
	})
	return app, client, err
}

// Wait serves until the mount is unmounted.
func (m *Mount) Wait() { <-m.done }

// Close unmounts (if still mounted), lets uploads in flight finish for up to
// grace, leaves the rest queued, and closes the state. Each step ends the
// goroutines that could use what the next one closes: unmount (no more
// requests), apps (outbox drain, prefetches, lookups of unknown uuids),
// cache (fills cancelled and waited for), index, then the clients' idle
// connections. No goroutine of the mount outlives Close.
func (m *Mount) Close(grace time.Duration) error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	select {
	case <-m.done: // unmounted from outside (fusermount3 -u)
	default:
		errs = append(errs, m.unmount())
	}
	errs = append(errs, m.closeState(grace))
	return errors.Join(errs...)
}

// closeState closes what New opened, after the FUSE server: apps, cache,
// index, clients, in that order.
func (m *Mount) closeState(grace time.Duration) error {
	for _, a := range m.Apps {
		a.Close(grace)
	}
	var errs []error
	if m.Cache != nil {
		errs = append(errs, m.Cache.Close())
	}
	errs = append(errs, m.Index.Close())
	for _, c := range m.clients {
		c.Close()
	}
	return errors.Join(errs...)
}

// unmount unmounts, detaching the mount when it is busy.
func (m *Mount) unmount() error {
	if err := m.Server.Unmount(); err != nil {
		// Busy (a shell sits in it, a file is open): detach it, so the
		// mount point is free now and the kernel lets go once unused.
		m.log.Warn("mount is busy: detaching it", "mountpoint", m.mnt, "err", err)
		if err := lazyUnmount(m.mnt); err != nil {
			return fmt.Errorf("unmount: %w", err)
		}
	}
	return nil
}

// lazyUnmount detaches a busy mount: directly as root, else through
// fusermount3.
func lazyUnmount(mnt string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(mnt, syscall.MNT_DETACH)
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if path, err := exec.LookPath(bin); err == nil {
			return exec.Command(path, "-u", "-z", mnt).Run()
		}
	}
	return errors.New("no fusermount3 to detach the mount with")
}

// cacheMinFree is the space the download cache leaves free on its disk,
// evicting as it must: upload/'s reserve (writes below it fail with
// ENOSPC), and as much again for the files being copied in. Without it the
// cached copies of uploads and reads fill a small state disk until upload/
// refuses every write.
const cacheMinFree = 2 * core.DefaultReserve
