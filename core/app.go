// Package core is chatfs's model of one mounted app, free of FUSE: it
// answers lookups and listings of files/ and by-name/ from the index, opens
// file contents through the download cache, and runs the upload outbox
// (settling, queueing, uploading, recovery). fs/ is a thin adapter over it.
//
// Data flows one way: core consults index/, reads or fills cache/, and calls
// the service through the Remote interface.
package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/chatfs/chatfs/cache"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// Remote is the part of the chatfiles client the core uses. Implementations
// are safe for concurrent use and return errors that remote's predicates
// (remote.IsNotExist, remote.IsRetryable, ...) classify.
type Remote interface {
	Upload(ctx context.Context, req remote.UploadRequest) (remote.UploadResult, error)
	Download(ctx context.Context, req remote.DownloadRequest) (*remote.Download, error)
}

// Options configure an App. Zero durations take defaults.
type Options struct {
	Name      string // the app's directory name
	Remote    Remote
	Index     *index.DB
	Cache     *cache.Cache
	OutboxDir string // the app's staging directory, backing upload/

	MaxSize      int64 // bytes; writes past it fail with ErrTooLarge
	Restrict     bool  // upload with restrict-access
	ThumbWidth   int   // thumbnail box asked for at upload; 0 = server default
	ThumbHeight  int
	SettleDelay  time.Duration // quiet time after close before an upload; default 1s
	NegativeTTL  time.Duration // how long a 404 for an unknown uuid is remembered; default 30s
	Uploaders    int           // parallel uploads; default 4
	RetryBackoff time.Duration // first pause after a failed upload; default 2s, doubling to 10min
	Reserve      int64         // free bytes upload/ leaves on its disk; 0 = DefaultReserve, < 0 = no check
	Sync         Syncer        // makes staged files durable; nil = fsync(2)
	Logger       *slog.Logger
	Now          func() time.Time

	// Retention is how long the app's service keeps files, for the
	// expiry time of uploads; default DefaultTTL.
	Retention time.Duration
}

// App is one mounted app. It is safe for concurrent use.
type App struct {
	// read only after New
	opts   Options
	log    *slog.Logger
	outbox *Outbox

	probes singleflight.Group // uuid -> lookup in flight; joined under mu (see probe)

	mu       sync.Mutex
	negative map[string]time.Time // uuid -> when a 404 for it expires. GUARDED_BY(mu)
}

// New builds an App. Call Start to begin uploading and Close when done.
func New(o Options) (*App, error) {
	if o.Remote == nil || o.Index == nil || o.Cache == nil || o.OutboxDir == "" || o.Name == "" {
		return nil, errors.New("core: Name, Remote, Index, Cache and OutboxDir are required")
	}
	if o.MaxSize <= 0 {
		o.MaxSize = 10 * 1024 * 1024
	}
	if o.SettleDelay <= 0 {
		o.SettleDelay = time.Second
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 30 * time.Second
	}
	if o.Uploaders <= 0 {
		o.Uploaders = 4
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 2 * time.Second
	}
	if o.Reserve == 0 {
		o.Reserve = DefaultReserve
	}
	if o.Sync == nil {
		o.Sync = osSyncer{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Retention <= 0 {
		o.Retention = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &App{
		opts:     o,
		log:      o.Logger.With("app", o.Name),
		negative: make(map[string]time.Time),
	}
	ob, err := newOutbox(a)
	if err != nil {
		return nil, err
	}
	a.outbox = ob
	return a, nil
}

// Name is the app's directory name.
func (a *App) Name() string { return a.opts.Name }

// MaxSize is the largest file the app accepts.
func (a *App) MaxSize() int64 { return a.opts.MaxSize }

// Outbox is the app's upload outbox.
func (a *App) Outbox() *Outbox { return a.outbox }

// Start recovers the outbox from disk and starts the uploaders.
func (a *App) Start(ctx context.Context) error { return a.outbox.start(ctx) }

// Close stops the uploaders, giving uploads in flight up to grace to finish;
// the rest stay queued for the next mount.
func (a *App) Close(grace time.Duration) { a.outbox.close(grace) }

// probeUUID is a well-formed uuid no file has: asking for it tells whether
// the app exists and the token is accepted, without touching a real file.
const probeUUID = "00000000-0000-0000-0000-000000000000"

// Check asks the service about the app once. It returns nil when the
// service answers as expected (404 for a file that does not exist), and
// the error otherwise: remote.IsAppNotFound for a wrong app, IsUnauthorized
// for a refused token, a network error when the service is unreachable.
func (a *App) Check(ctx context.Context) error {
	d, err := a.opts.Remote.Download(ctx, remote.DownloadRequest{UUID: probeUUID})
	if err == nil {
		d.Body.Close()
		return nil
	}
	if remote.IsNotExist(err) && !remote.IsAppNotFound(err) {
		return nil
	}
	return err
}
