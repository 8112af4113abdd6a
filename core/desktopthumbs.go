package core

import (
	"context"
	"fmt"
	"io"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/thumbs"
)

// Desktop thumbnails: when a folder of the mount is listed, the files it
// shows that have a server thumbnail are offered to the desktop's
// thumbnail cache (Options.DesktopThumbs), which fills it in the
// background from those thumbnails, so a file manager does not download
// every file whole to make its own. Listings of files/ and by-name/ call
// OfferThumbnails; so can any other folder that shows files.

// maxDesktopThumbSource bounds a server thumbnail read for the desktop.
const maxDesktopThumbSource = 4 << 20

// Shown is a file as a folder listing shows it: at Path, the absolute path
// a file manager sees (a symlink's own path, for by-name/).
type Shown struct {
	Path  string
	Entry Entry
}

// HasThumbnail reports whether the server has a thumbnail of the entry's
// file (an image, or a video uploaded with one): what OfferThumbnails
// takes up.
func (e Entry) HasThumbnail() bool { return hasThumb(e.file) }

// Entry is the files/ entry of the file itself (not its thumbnail).
func (f File) Entry() Entry { return Entry{file: f.f} }

// DesktopThumbnails reports whether listings feed the desktop's thumbnail
// cache, so that callers can skip building what OfferThumbnails takes.
func (a *App) DesktopThumbnails() bool { return a.opts.DesktopThumbs != nil }

// OfferThumbnails offers the shown files that have a server thumbnail
// (images, videos uploaded with one, and the .thumb entries themselves)
// to the desktop thumbnail cache, and returns at once. Files without a
// server thumbnail, and expired ones, are skipped; nothing is downloaded
// but thumbnails.
func (a *App) OfferThumbnails(items []Shown) {
	c := a.opts.DesktopThumbs
	if c == nil || len(items) == 0 {
		return
	}
	out := make([]thumbs.Item, 0, len(items))
	for _, s := range items {
		f := s.Entry.file
		if !hasThumb(f) || f.Expired {
			continue
		}
		it := thumbs.Item{Path: s.Path, MTime: f.Uploaded, Size: -1, Fetch: a.thumbSource(f)}
		if !s.Entry.Thumb {
			it.Size, it.MIME = f.Size, f.MIME
		}
		out = append(out, it)
	}
	if len(out) > 0 {
		c.Offer(out)
	}
}

// thumbSource reads f's server thumbnail through the download cache, as
// files/<uuid>.thumb does (so the two share one download).
func (a *App) thumbSource(f index.File) func(ctx context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		h, err := a.open(ctx, Entry{file: f, Thumb: true})
		if err != nil {
			return nil, err
		}
		defer h.Close()
		n, err := h.Wait(ctx)
		if err != nil {
			return nil, err
		}
		if n > maxDesktopThumbSource {
			return nil, fmt.Errorf("the server's thumbnail of %s has %d bytes", f.UUID, n)
		}
		buf := make([]byte, n)
		m, err := h.ReadAt(ctx, buf, 0)
		if err != nil && err != io.EOF { //nolint:errorlint // the cache's own end of a complete entry
			return nil, err
		}
		return buf[:m], nil
	}
}
