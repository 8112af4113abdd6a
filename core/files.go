package core

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chatfs/chatfs/cache"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// ThumbSuffix ends the name of a file's thumbnail in files/.
const ThumbSuffix = ".thumb"

// cacheKey names the entry's bytes in the download cache. A video's
// thumbnail is a file of its own, so it shares that file's cache entry.
func (e Entry) cacheKey() string {
	if !e.Thumb {
		return e.file.UUID
	}
	if e.file.ThumbUUID != "" {
		return e.file.ThumbUUID
	}
	return e.file.UUID + ThumbSuffix
}

func hasThumb(f index.File) bool { return f.HasThumb || f.ThumbUUID != "" }

// Size is the entry's size in bytes, -1 when not yet known, and whether
// it is final: recorded in the index (our uploads, or a download that
// completed), or the size of the complete cached bytes. A size that is not
// final is one a download in progress announced, and may prove wrong.
func (a *App) Size(e Entry) (int64, bool) {
	if !e.Thumb && e.file.Size >= 0 {
		return e.file.Size, true
	}
	key := e.cacheKey()
	if n, ok := a.opts.Cache.SizeOf(key); ok {
		return n, a.opts.Cache.Has(key)
	}
	return -1, false
}

// Stat returns the entry's size as Size does, but never leaves it unknown
// for want of asking (stat saying 0 bytes makes tar and rsync copy an
// empty file): a thumbnail's bytes are fetched, and its final size
// returned; a file's download is started (or joined) until the server
// announces a size. Either goes through the cache, so reading afterwards
// costs no second download; a failed download is the error.
func (a *App) Stat(ctx context.Context, e Entry) (int64, bool, error) {
	n, final := a.Size(e)
	if final || n >= 0 && !e.Thumb {
		return n, final, nil
	}
	if e.Thumb {
		n, err := a.fetchWhole(ctx, e)
		return n, err == nil, err
	}
	h, err := a.open(ctx, e)
	if err != nil {
		return -1, false, err
	}
	defer h.Close()
	n, err = h.WaitSize(ctx)
	return n, err == nil && h.Complete(), err
}

// fetchWhole fills the cache with an entry's bytes and returns their size.
func (a *App) fetchWhole(ctx context.Context, e Entry) (int64, error) {
	h, err := a.open(ctx, e)
	if err != nil {
		return -1, err
	}
	defer h.Close()
	return h.Wait(ctx)
}

// visible reports whether an entry is shown: expired files stay only while
// their bytes are still cached.
func (a *App) visible(e Entry) bool {
	return !e.file.Expired || a.opts.Cache.Has(e.cacheKey())
}

// ParseFileName splits a name of files/ into uuid and thumbnail flag. It
// answers false for every name that is not "<uuid>" or "<uuid>.thumb", so
// such names never reach the server.
func ParseFileName(name string) (uuid string, thumb bool, ok bool) {
	if s, found := strings.CutSuffix(name, ThumbSuffix); found {
		return s, true, remote.ValidUUID(s)
	}
	return name, false, remote.ValidUUID(name)
}

// Lookup finds a name of files/. A well-formed uuid the index does not know
// is asked of the server once (a 404 is remembered for NegativeTTL, the
// NegativeMax most recent ones); any other name answers ErrNotExist
// without a request.
func (a *App) Lookup(ctx context.Context, name string) (Entry, error) {
	uuid, thumb, ok := ParseFileName(name)
	if !ok {
		return Entry{}, ErrNotExist
	}
	f, err := a.opts.Index.Get(a.opts.Name, uuid)
	if errors.Is(err, index.ErrNotFound) {
		f, err = a.probe(ctx, uuid)
	}
	if err != nil {
		return Entry{}, err
	}
	return a.Resolve(ctx, Entry{file: f, Thumb: thumb})
}

// Resolve finishes the lookup of an entry whose record is already at hand
// (one List gave, so that the lookups following a listing read the index
// no more): it answers as Lookup does for the entry's name, ErrNotExist
// for an entry not shown, and fetches a thumbnail so its size is known.
func (a *App) Resolve(ctx context.Context, e Entry) (Entry, error) {
	f, thumb := e.file, e.Thumb
	if thumb && !hasThumb(f) && f.MIME == "" && !f.Expired {
		// Whether the server makes a thumbnail depends on the type.
		var err error
		if f, err = a.resolveMIME(ctx, f); err != nil {
			return Entry{}, err
		}
	}
	e = Entry{file: f, Thumb: thumb}
	if (thumb && !hasThumb(f)) || !a.visible(e) {
		return Entry{}, ErrNotExist
	}
	if thumb {
		// stat must never give a thumbnail a size of 0 (tar and rsync
		// would copy an empty file): it is small, so fetch it now.
		if _, _, err := a.Stat(ctx, e); err != nil {
			return Entry{}, err
		}
		return e, nil
	}
	if f.Size < 0 {
		e.file = a.recordSize(f)
	}
	return e, nil
}

// recordSize records in the index the size of a file looked up by uuid
// once its download has completed, the only size chatfs trusts for it.
func (a *App) recordSize(f index.File) index.File {
	if !a.opts.Cache.Has(f.UUID) {
		return f
	}
	n, ok := a.opts.Cache.SizeOf(f.UUID)
	if !ok {
		return f
	}
	f.Size = n
	if err := a.opts.Index.Put(&f); err != nil {
		a.log.Warn("record size", "uuid", f.UUID, "err", err)
	}
	return f
}

// List calls fn for every visible entry of files/, in uuid order.
func (a *App) List(fn func(Entry) error) error {
	return a.opts.Index.List(a.opts.Name, func(f index.File) error {
		e := Entry{file: f}
		if !a.visible(e) {
			return nil
		}
		if err := fn(e); err != nil {
			return err
		}
		if hasThumb(f) {
			return fn(Entry{file: f, Thumb: true})
		}
		return nil
	})
}

// open opens an entry's bytes through the download cache (see Open).
func (a *App) open(ctx context.Context, e Entry) (*cache.Handle, error) {
	size := int64(-1)
	if !e.Thumb {
		size = e.file.Size
	}
	return a.opts.Cache.Open(ctx, e.cacheKey(), size, a.fetcher(e))
}

// Forget removes a file from the index and the cache. The service has no
// delete: the file stays on the server until it expires.
func (a *App) Forget(uuid string) error {
	if !remote.ValidUUID(uuid) {
		return ErrNotExist
	}
	f, err := a.opts.Index.Get(a.opts.Name, uuid)
	if err != nil {
		return err
	}
	if err := a.opts.Index.Forget(a.opts.Name, uuid); err != nil {
		return err
	}
	for _, e := range []Entry{{file: f}, {file: f, Thumb: true}} {
		if err := a.opts.Cache.Remove(e.cacheKey()); err != nil {
			a.log.Warn("forget: cache remove", "key", e.cacheKey(), "err", err)
		}
	}
	return nil
}

// fetcher downloads an entry's bytes for the cache.
func (a *App) fetcher(e Entry) cache.Fetcher {
	req := remote.DownloadRequest{UUID: e.file.UUID, ShareSecret: e.file.ShareSecret, Thumbnail: e.Thumb}
	if e.Thumb && e.file.ThumbUUID != "" {
		req = remote.DownloadRequest{UUID: e.file.ThumbUUID, ShareSecret: e.file.ThumbSecret}
	}
	return func(ctx context.Context, offset int64) (io.ReadCloser, int64, int64, error) {
		r := req
		r.Offset = offset
		d, err := a.opts.Remote.Download(ctx, r)
		if err != nil {
			if remote.IsExpired(err) {
				if merr := a.opts.Index.MarkExpired(a.opts.Name, e.file.UUID, a.opts.Now()); merr != nil {
					a.log.Warn("mark expired", "uuid", e.file.UUID, "err", merr)
				}
			}
			return nil, 0, 0, err
		}
		body, err := a.limit(d)
		if err != nil {
			return nil, 0, 0, err
		}
		return body, d.Offset, d.Size, nil
	}
}

// probe is a lookup of an unknown uuid in flight, joined by concurrent
// lookups. It is not x/sync/singleflight: its goroutine must be the App's
// own, so that Close can cancel and wait for it (singleflight starts its
// own goroutine, which no owner could wait for without racing its start).
type probe struct {
	done chan struct{} // closed once file and err are set
	file index.File
	err  error
}

// probe asks the server for a uuid the index does not know, records what it
// learns (size, sniffed type), and hands the open body to the cache, so that
// reading the file afterwards costs no second download. Concurrent lookups
// of one uuid share one probe; each may leave it on its own context.
func (a *App) probe(ctx context.Context, uuid string) (index.File, error) {
	now := a.opts.Now()
	a.mu.Lock()
	if until, ok := a.negative.Get(uuid); ok {
		if now.Before(until) {
			a.mu.Unlock()
			return index.File{}, ErrNotExist
		}
		a.negative.Remove(uuid)
	}
	p, running := a.probes[uuid]
	if !running {
		if a.closed {
			a.mu.Unlock()
			return index.File{}, ErrClosed
		}
		p = &probe{done: make(chan struct{})}
		a.probes[uuid] = p
		// Detached from the lookup: the probe's body feeds the cache fill
		// every reader shares, and concurrent lookups wait for it, so one
		// interrupted lookup (or the end of its FUSE request, whose context
		// go-fuse reuses) must not cut it. The App owns it instead: Close
		// cancels it and waits, before the index and cache close.
		pctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		stop := context.AfterFunc(a.ctx, func() { cancel(context.Cause(a.ctx)) })
		a.probing.Add(1)
		go func() {
			defer a.probing.Done()
			defer stop()
			a.runProbe(pctx, uuid, p, now)
		}()
	}
	a.mu.Unlock()
	select {
	case <-p.done:
		return p.file, p.err
	case <-ctx.Done():
		return index.File{}, ctx.Err()
	}
}

// runProbe runs the probe p of uuid and publishes its outcome.
func (a *App) runProbe(ctx context.Context, uuid string, p *probe, now time.Time) {
	p.file, p.err = a.fetchUnknown(ctx, uuid)
	a.mu.Lock()
	delete(a.probes, uuid)
	if remote.IsNotExist(p.err) {
		a.negative.Add(uuid, now.Add(a.opts.NegativeTTL))
		p.err = ErrNotExist
	}
	a.mu.Unlock()
	close(p.done)
}

// fetchUnknown asks the server for uuid and records what the answer's
// headers tell: that the file exists, and its type when the server names a
// specific one. It does not wait for the body (a slow server would stall
// the lookup): the type is sniffed later, when asked for (resolveMIME).
// The announced size is not recorded either: one wrong Content-Length
// would make every later download fail its size check; the size is
// recorded once a download completes (recordSize).
func (a *App) fetchUnknown(ctx context.Context, uuid string) (index.File, error) {
	d, err := a.opts.Remote.Download(ctx, remote.DownloadRequest{UUID: uuid})
	if err != nil {
		return index.File{}, err
	}
	f := index.File{
		App:      a.opts.Name,
		UUID:     uuid,
		Size:     -1,
		MIME:     headerType(d.ContentType),
		Uploaded: a.opts.Now(),
	}
	f.HasThumb = isImage(f.MIME)
	if err := a.opts.Index.Put(&f); err != nil {
		d.Body.Close()
		return index.File{}, err
	}
	body, err := a.limit(d)
	if err != nil {
		return f, nil // reads fail with the limit's error
	}
	a.seedCache(ctx, Entry{file: f}, body, d.Size)
	return f, nil
}

// seedCache starts the cache's fill of e with a body already open, whose
// size the server announced (-1: none), so the probe's download is the one
// readers share. If the cache does not take the body (the entry is
// complete, or another fill runs), it is closed.
func (a *App) seedCache(ctx context.Context, e Entry, body io.ReadCloser, size int64) {
	var once sync.Once
	take := func() (rc io.ReadCloser) {
		once.Do(func() { rc = body })
		return rc
	}
	next := a.fetcher(e)
	fetch := func(ctx context.Context, offset int64) (io.ReadCloser, int64, int64, error) {
		if rc := take(); rc != nil {
			if offset == 0 {
				// The body was requested on the probe's context, which
				// ends with the probe: tie it to the fill's instead, so
				// that Cache.Close cuts it like any fill's download.
				return closeWith(ctx, rc), 0, size, nil
			}
			rc.Close()
		}
		return next(ctx, offset)
	}
	h, err := a.opts.Cache.Open(ctx, e.cacheKey(), e.file.Size, fetch)
	if err == nil {
		// Wait until the fill has called fetch, so the body is taken or not.
		_, _ = h.WaitSize(ctx)
		h.Close()
	}
	if rc := take(); rc != nil {
		rc.Close()
	}
}

// closeWith returns rc, closed when ctx ends if it is not closed before.
func closeWith(ctx context.Context, rc io.ReadCloser) io.ReadCloser {
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	return &ctxBody{ReadCloser: rc, stop: stop}
}

// ctxBody is a body that a context closes (see closeWith).
type ctxBody struct {
	io.ReadCloser
	stop func() bool
}

func (b *ctxBody) Close() error {
	if !b.stop() {
		return nil // the context closed it
	}
	return b.ReadCloser.Close()
}

// sniff decides a MIME type from the first bytes, preferring a specific
// Content-Type from the server over a generic sniff.
func sniff(head []byte, serverType string) string {
	t := http.DetectContentType(head)
	if (t == "application/octet-stream" || strings.HasPrefix(t, "text/plain")) && serverType != "" &&
		!strings.HasPrefix(serverType, "application/octet-stream") {
		return serverType
	}
	return t
}

// headerType is the type a server's Content-Type names, when it names a
// specific one; "" for none or a generic one (octet-stream, plain text).
func headerType(ct string) string {
	t, _, err := mime.ParseMediaType(ct)
	if err != nil || t == "application/octet-stream" || t == "text/plain" {
		return ""
	}
	return t
}

// isImage reports whether the server makes thumbnails for this type.
func isImage(mime string) bool {
	switch mime {
	case "image/png", "image/jpeg", "image/gif":
		return true
	}
	return false
}
