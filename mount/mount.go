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
	"net"
	"net/url"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/chatfs/chatfs/cache"
	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/core"
	chatfs "github.com/chatfs/chatfs/fs"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/internal/control"
	"github.com/chatfs/chatfs/internal/metrics"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/thumbs"
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
	RateLimit     float64           // calls/s per app and kind; default the client's
	SendLimits    remote.SendLimits // paces of messages; default the client's
	// HistoryPerMinute limits the history export calls per app; default
	// the service's 10 a minute (tests raise it).
	HistoryPerMinute float64
	AllowOther       bool
	Debug            bool
	// NoPassthrough turns FUSE passthrough of cached files off.
	NoPassthrough bool
	Logger        *slog.Logger
	// Sync makes staged files durable; nil means fsync(2). Tests count it.
	Sync core.Syncer
	// DesktopThumbnails is the desktop's thumbnail cache to fill from the
	// server's thumbnails when folders are listed (thumbs.Dir() gives the
	// user's); "" leaves it alone.
	DesktopThumbnails string
	// MetricsListener, if set, serves Prometheus metrics at /metrics
	// until Close (which closes it; so does a failed New).
	MetricsListener net.Listener
}

// Mount is a live mount. It owns every goroutine of chatfs but the
// embedded emulator's: Close stops them in the order unmount → apps →
// control socket and metrics → cache → index (see Close).
type Mount struct {
	Server     *chatfs.Server
	Apps       []*core.App
	Index      *index.DB
	Cache      *cache.Cache
	Thumbs     *thumbs.Cache    // the desktop thumbnail cache; nil when off. Closed before the apps
	clients    []*remote.Client // one per app, closed last
	control    *control.Server  // the control socket; nil until it is made
	metrics    *metrics.Server  // nil without Options.MetricsListener
	log        *slog.Logger
	cacheLimit int64
	mnt        string
	done       chan struct{} // closed when the FUSE server has stopped serving
	closed     bool
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
	m := &Mount{Index: idx, log: o.Logger, mnt: o.Mountpoint, cacheLimit: o.CacheSize}
	fail := func(err error) (*Mount, error) {
		m.closeState(0)
		if o.MetricsListener != nil && m.metrics == nil {
			o.MetricsListener.Close()
		}
		return nil, err
	}
	var mt *metrics.Metrics
	if o.MetricsListener != nil {
		mt = metrics.New()
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
	if o.DesktopThumbnails != "" {
		if m.Thumbs, err = thumbs.New(thumbs.Options{Dir: o.DesktopThumbnails, Logger: o.Logger}); err != nil {
			o.Logger.Warn("desktop thumbnails off", "err", err)
		}
	}
	for _, a := range o.Apps {
		app, client, err := newApp(o, a, idx, m.Cache, m.Thumbs, mt)
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
	if mt != nil {
		mt.Watch(m.levels)
		m.metrics = mt.Serve(o.MetricsListener, o.Logger)
	}
	m.control, err = control.Listen(filepath.Join(o.Dirs.Data, ControlSocket), m.Status, o.Logger)
	if err != nil {
		return fail(err)
	}
	m.Server, err = chatfs.Mount(o.Mountpoint, chatfs.Options{
		Apps:          m.Apps,
		CacheUsage:    m.Cache.Usage,
		Control:       m.control.Path(),
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

// newApp builds an app and its client, reporting to mt unless it is nil.
func newApp(o Options, a App, idx *index.DB, c *cache.Cache, th *thumbs.Cache, mt *metrics.Metrics) (*core.App, *remote.Client, error) {
	ep := remote.Endpoint{BaseURL: a.Host, AppID: a.AppID, Org: a.Org, App: a.App.AppName}
	var robs remote.Observer
	var cobs core.Observer
	if mt != nil {
		robs, cobs = mt.App(a.Name), mt.App(a.Name)
	}
	client, err := remote.New(remote.Options{
		Endpoint:   ep,
		Tokens:     a.Tokens,
		Retry:      o.Retry,
		RateLimit:  o.RateLimit,
		SendLimits: o.SendLimits,
		Logger:     o.Logger.With("app", a.Name),

		HistoryPerMinute: o.HistoryPerMinute,
		Observer:         robs,
	})
	if err != nil {
		return nil, nil, err
	}
	loc, err := a.HistoryLocation()
	if err != nil {
		return nil, client, err
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
		SendDir:      filepath.Join(o.Dirs.Data, "send", a.Name),
		SendAs:       a.SendAs,
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

		History:         client,
		HistoryWindow:   a.HistoryWindow(),
		HistoryInterval: a.HistoryInterval,
		HistoryLocation: loc,
		HistoryHost:     hostOf(a.Host),
		// the service's lifetime API and the desktop thumbnail cache
		Lifetime:      client,
		LifetimeUser:  a.LifetimeUser,
		DesktopThumbs: th,
		Observer:      cobs,
	})
	return app, client, err
}

// hostOf is the host[:port] of a base URL, "" when it has none.
func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Host
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

// closeState closes what New opened, after the FUSE server: desktop
// thumbnails, apps, the control socket (status answers while uploads
// drain), cache, index, clients, in that order.
func (m *Mount) closeState(grace time.Duration) error {
	if m.Thumbs != nil {
		m.Thumbs.Close() // its fetches read through the apps' cache
	}
	busy := 0
	for _, a := range m.Apps {
		busy += a.Outbox().Busy()
	}
	if busy > 0 {
		m.log.Info("stopping: finishing the uploads in flight; none new starts", "in_flight", busy, "drain_timeout", grace)
	}
	for _, a := range m.Apps {
		a.Close(grace)
	}
	for _, a := range m.Apps {
		if w, u, _, err := m.Index.Counts(a.Name()); err == nil && w+u > 0 {
			m.log.Info("stopped: uploads stay queued for the next mount", "app", a.Name(), "queued", w+u)
		}
	}
	var errs []error
	if m.control != nil {
		errs = append(errs, m.control.Close())
	}
	if m.metrics != nil {
		errs = append(errs, m.metrics.Close())
	}
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

// cacheMinFree is the space the download cache leaves free on its disk,
// evicting as it must: upload/'s reserve (writes below it fail with
// ENOSPC), and as much again for the files being copied in. Without it the
// cached copies of uploads and reads fill a small state disk until upload/
// refuses every write.
const cacheMinFree = 2 * core.DefaultReserve
