package core

import (
	"context"
	"errors"
	"io"
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

// Entry is one name in files/: a file, or its thumbnail.
type Entry struct {
	File  index.File
	Thumb bool
}

// Name is the entry's name in files/.
func (e Entry) Name() string {
	if e.Thumb {
		return e.File.UUID + ThumbSuffix
	}
	return e.File.UUID
}

// Ino is the entry's stable inode number.
func (e Entry) Ino() uint64 {
	if e.Thumb {
		return e.File.Ino + 1
	}
	return e.File.Ino
}

// cacheKey names the entry's bytes in the download cache. A video's
// thumbnail is a file of its own, so it shares that file's cache entry.
func (e Entry) cacheKey() string {
	if !e.Thumb {
		return e.File.UUID
	}
	if e.File.ThumbUUID != "" {
		return e.File.ThumbUUID
	}
	return e.File.UUID + ThumbSuffix
}

func hasThumb(f index.File) bool { return f.HasThumb || f.ThumbUUID != "" }

// Size is the entry's size in bytes: from the index, or from the cache
// once the bytes have been seen; -1 when not yet known.
func (a *App) Size(e Entry) int64 {
	if !e.Thumb && e.File.Size >= 0 {
		return e.File.Size
	}
	if n, ok := a.opts.Cache.SizeOf(e.cacheKey()); ok {
		return n
	}
	return -1
}

// visible reports whether an entry is shown: expired files stay only while
// their bytes are still cached.
func (a *App) visible(e Entry) bool {
	return !e.File.Expired || a.opts.Cache.Has(e.cacheKey())
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
// is asked of the server once (a 404 is remembered for NegativeTTL); any
// other name answers ErrNotExist without a request.
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
	e := Entry{File: f, Thumb: thumb}
	if (thumb && !hasThumb(f)) || !a.visible(e) {
		return Entry{}, ErrNotExist
	}
	return e, nil
}

// List calls fn for every visible entry of files/, in uuid order.
func (a *App) List(fn func(Entry) error) error {
	return a.opts.Index.List(a.opts.Name, func(f index.File) error {
		e := Entry{File: f}
		if !a.visible(e) {
			return nil
		}
		if err := fn(e); err != nil {
			return err
		}
		if hasThumb(f) {
			return fn(Entry{File: f, Thumb: true})
		}
		return nil
	})
}

// Open opens an entry's bytes through the download cache; reading starts
// while the download goes on. Close the handle when done.
func (a *App) Open(ctx context.Context, e Entry) (*cache.Handle, error) {
	size := int64(-1)
	if !e.Thumb {
		size = e.File.Size
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
	for _, e := range []Entry{{File: f}, {File: f, Thumb: true}} {
		if err := a.opts.Cache.Remove(e.cacheKey()); err != nil {
			a.log.Warn("forget: cache remove", "key", e.cacheKey(), "err", err)
		}
	}
	return nil
}

// fetcher downloads an entry's bytes for the cache.
func (a *App) fetcher(e Entry) cache.Fetcher {
	req := remote.DownloadRequest{UUID: e.File.UUID, ShareSecret: e.File.ShareSecret, Thumbnail: e.Thumb}
	if e.Thumb && e.File.ThumbUUID != "" {
		req = remote.DownloadRequest{UUID: e.File.ThumbUUID, ShareSecret: e.File.ThumbSecret}
	}
	return func(ctx context.Context, offset int64) (io.ReadCloser, int64, int64, error) {
		r := req
		r.Offset = offset
		d, err := a.opts.Remote.Download(ctx, r)
		if err != nil {
			if remote.IsExpired(err) {
				if merr := a.opts.Index.MarkExpired(a.opts.Name, e.File.UUID, a.opts.Now()); merr != nil {
					a.log.Warn("mark expired", "uuid", e.File.UUID, "err", merr)
				}
			}
			return nil, 0, 0, err
		}
		return d.Body, d.Offset, d.Size, nil
	}
}

// probe is a lookup of an unknown uuid on the server, shared by concurrent
// lookups of the same uuid.
type probe struct {
	done chan struct{}
	file index.File
	err  error
}

// probe asks the server for a uuid the index does not know, records what it
// learns (size, sniffed type), and hands the open body to the cache, so that
// reading the file afterwards costs no second download.
func (a *App) probe(ctx context.Context, uuid string) (index.File, error) {
	now := a.opts.Now()
	a.mu.Lock()
	if until, ok := a.negative[uuid]; ok {
		if now.Before(until) {
			a.mu.Unlock()
			return index.File{}, ErrNotExist
		}
		delete(a.negative, uuid)
	}
	p, running := a.probes[uuid]
	if !running {
		p = &probe{done: make(chan struct{})}
		a.probes[uuid] = p
		// Detached from the lookup: the probe's body feeds the cache fill
		// every reader shares, and concurrent lookups wait for it, so one
		// interrupted lookup (or the end of its FUSE request, whose context
		// go-fuse reuses) must not cut it.
		go a.runProbe(context.WithoutCancel(ctx), uuid, p, now)
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
		a.negative[uuid] = now.Add(a.opts.NegativeTTL)
		p.err = ErrNotExist
	}
	a.mu.Unlock()
	close(p.done)
}

func (a *App) fetchUnknown(ctx context.Context, uuid string) (index.File, error) {
	d, err := a.opts.Remote.Download(ctx, remote.DownloadRequest{UUID: uuid})
	if err != nil {
		return index.File{}, err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(d.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		d.Body.Close()
		return index.File{}, err
	}
	head = head[:n]
	f := index.File{
		App:      a.opts.Name,
		UUID:     uuid,
		Size:     d.Size,
		MIME:     sniff(head, d.ContentType),
		Uploaded: a.opts.Now(),
	}
	// A size the server did not announce stays unknown (-1) here, even for
	// a body shorter than the sniff buffer: a cut body reads the same. The
	// cache learns the size when its fill completes.
	f.HasThumb = isImage(f.MIME)
	if err := a.opts.Index.Put(&f); err != nil {
		d.Body.Close()
		return index.File{}, err
	}
	a.seedCache(ctx, Entry{File: f}, io.MultiReader(strings.NewReader(string(head)), d.Body), d.Body)
	return f, nil
}

// seedCache starts the cache's fill of e with a body already open, so the
// probe's download is the one readers share. If the cache does not take the
// body (the entry is complete, or another fill runs), it is closed.
func (a *App) seedCache(ctx context.Context, e Entry, body io.Reader, closer io.Closer) {
	var once sync.Once
	take := func() (rc io.ReadCloser) {
		once.Do(func() {
			rc = struct {
				io.Reader
				io.Closer
			}{body, closer}
		})
		return rc
	}
	next := a.fetcher(e)
	fetch := func(ctx context.Context, offset int64) (io.ReadCloser, int64, int64, error) {
		if rc := take(); rc != nil {
			if offset == 0 {
				return rc, 0, e.File.Size, nil
			}
			rc.Close()
		}
		return next(ctx, offset)
	}
	h, err := a.opts.Cache.Open(ctx, e.cacheKey(), e.File.Size, fetch)
	if err == nil {
		// Wait until the fill has called fetch, so the body is taken or not.
		_, _ = h.WaitSize(ctx)
		h.Close()
	}
	if rc := take(); rc != nil {
		rc.Close()
	}
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

// isImage reports whether the server makes thumbnails for this type.
func isImage(mime string) bool {
	switch mime {
	case "image/png", "image/jpeg", "image/gif":
		return true
	}
	return false
}
