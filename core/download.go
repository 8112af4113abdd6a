package core

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// limit bounds a download by the app's size limit: a server that announces
// more is refused at once, and a body that goes past the limit (an endless
// one, or one longer than it announced) fails with ErrTooLarge as soon as
// it does, so it never fills the disk. d.Body is closed on refusal.
func (a *App) limit(d *remote.Download) (io.ReadCloser, error) {
	limit := a.opts.MaxSize
	if d.Size > limit {
		d.Body.Close()
		return nil, fmt.Errorf("%w: the server announces %d bytes, the limit is %d", ErrTooLarge, d.Size, limit)
	}
	return &limitBody{rc: d.Body, left: max(limit-d.Offset, 0), max: limit}, nil
}

// limitBody fails a body once it goes past left bytes.
type limitBody struct {
	rc   io.ReadCloser
	left int64 // bytes still allowed
	max  int64 // the limit, for the error
}

func (b *limitBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte past the limit tells a body that goes on
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		return n, fmt.Errorf("%w: the server sends more than %d bytes", ErrTooLarge, b.max)
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitBody) Close() error { return b.rc.Close() }

// sniffLen is how many first bytes decide a type (http.DetectContentType).
const sniffLen = 512

// resolveMIME sniffs the type of a file looked up by uuid from its first
// bytes, read through the cache (so the download is shared with readers),
// and records it, with whether the server makes a thumbnail for it.
func (a *App) resolveMIME(ctx context.Context, f index.File) (index.File, error) {
	h, err := a.Open(ctx, Entry{file: f})
	if err != nil {
		return f, err
	}
	defer h.Close()
	head := make([]byte, sniffLen)
	n, err := h.ReadAt(ctx, head, 0)
	if err != nil && err != io.EOF { //nolint:errorlint // the cache's own end of a complete entry
		return f, err
	}
	cur, err := a.opts.Index.Get(a.opts.Name, f.UUID)
	if errors.Is(err, index.ErrNotFound) {
		return f, ErrNotExist // forgotten meanwhile
	}
	if err != nil {
		return f, err
	}
	if cur.MIME != "" {
		return cur, nil
	}
	cur.MIME = sniff(head[:n], "")
	cur.HasThumb = cur.HasThumb || isImage(cur.MIME)
	if err := a.opts.Index.Put(&cur); err != nil {
		return f, err
	}
	return cur, nil
}

// Xattrs returns the extended attributes of an entry of files/ (see
// FileXattrs), from its current record. With sniff, a file whose type is
// not known yet has it sniffed first (which reads its first bytes).
func (a *App) Xattrs(ctx context.Context, e Entry, sniff bool) ([]Xattr, error) {
	f, err := a.opts.Index.Get(a.opts.Name, e.file.UUID)
	if errors.Is(err, index.ErrNotFound) {
		f, err = e.file, nil // looked up, then forgotten: what the node knew
	}
	if err != nil {
		return nil, err
	}
	if sniff && !e.Thumb && f.MIME == "" {
		if f, err = a.resolveMIME(ctx, f); err != nil {
			return nil, err
		}
	}
	return FileXattrs(Entry{file: f, Thumb: e.Thumb}), nil
}
