package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/chatfs/chatfs/cache"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/thumbs"
)

// Remote is the part of the chatfiles client the core uses. Implementations
// are safe for concurrent use and return errors that remote's predicates
// (remote.IsNotExist, remote.IsRetryable, ...) classify.
type Remote interface {
	Upload(ctx context.Context, req remote.UploadRequest) (remote.UploadResult, error)
	Download(ctx context.Context, req remote.DownloadRequest) (*remote.Download, error)
	SendMessage(ctx context.Context, kind remote.ChatKind, msg remote.Message) (remote.SendResult, error)
}

// Options configure an App. Zero durations take defaults.
type Options struct {
	Name      string // the app's directory name
	Remote    Remote
	Index     *index.DB
	Cache     *cache.Cache
	OutboxDir string // the app's staging directory, backing upload/
	// SendDir is the staging directory backing send/; "" for no send/.
	SendDir string
	SendAs  string // the sender of messages sent from send/; default DefaultSendAs

	MaxSize      int64 // bytes; writes past it fail with ErrTooLarge
	Restrict     bool  // upload with restrict-access
	ThumbWidth   int   // thumbnail box asked for at upload; 0 = server default
	ThumbHeight  int
	SettleDelay  time.Duration // quiet time after close before an upload; default 1s
	NegativeTTL  time.Duration // how long a 404 for an unknown uuid is remembered; default 30s
	NegativeMax  int           // how many such 404s are remembered, least recently asked dropped first; default 4096
	Uploaders    int           // parallel uploads; default 4
	RetryBackoff time.Duration // first pause after a failed upload; default 2s, doubling to 10min
	Reserve      int64         // free bytes upload/ leaves on its disk; 0 = DefaultReserve, < 0 = no check
	Sync         Syncer        // makes staged files durable; nil = fsync(2)
	Logger       *slog.Logger
	Now          func() time.Time

	// Retention is how long the app's service keeps files, for the
	// expiry time of uploads; default DefaultTTL.
	Retention time.Duration

	// The message history import (history.go): off when History is nil or
	// HistoryWindow is 0.
	History         HistorySource
	HistoryWindow   time.Duration  // hours this far back are imported
	HistoryInterval time.Duration  // between rounds; default DefaultHistoryInterval
	HistoryLocation *time.Location // the export's hours: UTC (default) or UTC+8
	HistoryMaxBytes int64          // uncompressed bytes read of one hour; 0 = remote's default
	HistoryHost     string         // the app's host, to warn of attachments elsewhere
	// Lifetime is the service's lifetime API (nil: not offered), called
	// for LifetimeUser (default DefaultLifetimeUser); see SetLifetime.
	Lifetime     LifetimeSetter
	LifetimeUser string

	// DesktopThumbs, if set, is filled from the server's thumbnails of
	// the files listings show (see OfferThumbnails); nil: off. The App
	// does not own it.
	DesktopThumbs *thumbs.Cache
	// Observer, if set, is told what becomes of each upload (metrics).
	Observer Observer
}

// Upload outcomes, as an Observer is told them.
const (
	OutcomeLanded = "landed" // uploaded and recorded
	OutcomeRetry  = "retry"  // failed; tried again later
	OutcomeFailed = "failed" // failed for good, until the file changes
)

// Observer is told the outcome of each upload attempt. Its method is
// called on the uploader's goroutine: it must be fast and safe for
// concurrent use.
type Observer interface {
	// Upload: an attempt ended with outcome; bytes is the file's size.
	Upload(outcome string, bytes int64)
	// Send: an attempt of a file of send/ (upload, then message) ended
	// with outcome (landed: sent and recorded); bytes is the file's size.
	Send(outcome string, bytes int64)
}

// App is one mounted app. It is safe for concurrent use.
type App struct {
	// read only after New
	opts     Options
	log      *slog.Logger
	outbox   *Outbox
	sendbox  *Outbox   // nil without Options.SendDir
	importer *importer // nil when no history is imported

	importCancel context.CancelFunc // stops the importer; set by Start
	importing    sync.WaitGroup     // the importer's goroutine

	// lifetimes joins lifetime requests (lifetime.go)
	lifetimes *lifetimeBatcher

	ctx     context.Context         // the owner of probes: cancelled by Close
	cancel  context.CancelCauseFunc // cancels ctx
	probing sync.WaitGroup          // probe goroutines; Add under mu while !closed

	mu       sync.Mutex
	negative *simplelru.LRU[string, time.Time] // uuid -> when a 404 for it expires. GUARDED_BY(mu)
	probes   map[string]*probe                 // uuid -> lookup in flight. GUARDED_BY(mu)
	closed   bool                              // Close has begun: no probe starts. GUARDED_BY(mu)
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
	if o.NegativeMax <= 0 {
		o.NegativeMax = 4096
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
	if o.SendAs == "" {
		o.SendAs = DefaultSendAs
	}
	if !remote.ValidTarget(o.SendAs) {
		return nil, fmt.Errorf("core: sender %q is not a well-formed user name (letters, digits, _ - ., at most 64)", o.SendAs)
	}
	// Not expirable.LRU: its cleanup goroutine can never be stopped, and
	// it reads the wall clock rather than Options.Now. Entries carry their
	// expiry instead, checked when asked for.
	negative, err := simplelru.NewLRU[string, time.Time](o.NegativeMax, nil)
	if err != nil {
		return nil, err
	}
	a := &App{
		opts:     o,
		log:      o.Logger.With("app", o.Name),
		negative: negative,
		probes:   make(map[string]*probe),
	}
	a.ctx, a.cancel = context.WithCancelCause(context.Background())
	a.lifetimes = newLifetimeBatcher(a)
	ob, err := newOutbox(a, o.OutboxDir, false)
	if err != nil {
		return nil, err
	}
	a.outbox = ob
	if o.SendDir != "" {
		if a.sendbox, err = newOutbox(a, o.SendDir, true); err != nil {
			return nil, err
		}
	}
	a.importer = newImporter(a)
	return a, nil
}

// Name is the app's directory name.
func (a *App) Name() string { return a.opts.Name }

// MaxSize is the largest file the app accepts.
func (a *App) MaxSize() int64 { return a.opts.MaxSize }

// Outbox is the app's upload outbox.
func (a *App) Outbox() *Outbox { return a.outbox }

// Sendbox is the app's send/ outbox; nil when it has none.
func (a *App) Sendbox() *Outbox { return a.sendbox }

// DefaultSendAs is the sender of messages when none is configured: the
// service's own default.
const DefaultSendAs = "admin"

// Start recovers the outboxes from disk, starts the uploaders and the
// history importer.
func (a *App) Start(ctx context.Context) error {
	if err := a.outbox.start(ctx); err != nil {
		return err
	}
	if a.sendbox != nil {
		if err := a.sendbox.start(ctx); err != nil {
			return err
		}
	}
	if a.importer != nil && a.importCancel == nil {
		ictx, cancel := context.WithCancel(a.ctx)
		a.importCancel = cancel
		a.importing.Go(func() { a.importer.run(ictx) })
	}
	return nil
}

// Close stops the app's background work and waits for it: the history
// importer (an hour being read is read again next time), the senders and
// uploaders,
// giving uploads in flight up to grace to finish (the rest stay queued for
// the next mount), the thumbnail prefetches, then the lookups of unknown
// uuids in flight, which are cancelled. Nothing of the app writes to the
// index or opens the cache after Close returns. Lookups after Close fail
// with ErrClosed.
func (a *App) Close(grace time.Duration) {
	if a.importCancel != nil {
		a.importCancel()
	}
	a.importing.Wait()
	var wg sync.WaitGroup
	if a.sendbox != nil {
		wg.Go(func() { a.sendbox.close(grace) })
	}
	a.outbox.close(grace)
	wg.Wait()
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel(ErrClosed)
	a.probing.Wait()
	a.lifetimes.close()
}

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
