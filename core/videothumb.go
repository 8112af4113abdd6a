package core

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatfs/chatfs/index"
)

// A video's thumbnail is a separate image uploaded first, which the video's
// message refers to (thumb, thumb_secret). In upload/ the convention is a
// sibling named after the video: "clip.mp4" with "clip.mp4.thumb.jpg" (or
// .jpeg, .png). The image is uploaded as a file of its own; the video waits
// until it is, then records it, and files/<video uuid>.thumb reads it.
var thumbSuffixes = []string{".thumb.jpg", ".thumb.jpeg", ".thumb.png"}

// errThumbFirst: the file's thumbnail sibling must be uploaded first.
var errThumbFirst = errors.New("waiting for its thumbnail to be uploaded first")

// thumbSibling returns the staged thumbnail of rel still to be uploaded, if
// any. One whose upload failed for good does not hold the video back.
func (o *Outbox) thumbSibling(rel string) (string, bool) {
	for _, suf := range thumbSuffixes {
		p := rel + suf
		fi, err := os.Lstat(filepath.Join(o.dir, filepath.FromSlash(p)))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if u, err := o.app.opts.Index.GetUpload(o.queue, p); err == nil && u.State == index.Failed {
			continue
		}
		return p, true
	}
	return "", false
}

// uploadedThumb finds the thumbnail of rel that this mount uploaded. (A
// by-name/ match is not used: an older file of that name may belong to
// another clip. If chatfs restarts between the two uploads, the video is
// recorded without its thumbnail.)
func (o *Outbox) uploadedThumb(rel string) (index.File, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f, ok := o.thumbs[rel]
	return f, ok
}

// thumbWait is how long a video waits before it looks for its thumbnail
// again: the settle delay, or longer while the thumbnail's own upload waits
// out a backoff.
func (o *Outbox) thumbWait(rel string) time.Duration {
	wait := o.app.opts.SettleDelay
	if p, ok := o.thumbSibling(rel); ok {
		if u, err := o.app.opts.Index.GetUpload(o.queue, p); err == nil {
			wait = max(wait, u.NotBefore.Sub(o.app.opts.Now()))
		}
	}
	return wait
}

// noteThumb remembers an uploaded file that is a thumbnail sibling, for the
// video it belongs to.
func (o *Outbox) noteThumb(rel string, f index.File) {
	for _, suf := range thumbSuffixes {
		if video, ok := strings.CutSuffix(rel, suf); ok && video != "" {
			o.mu.Lock()
			o.thumbs[video] = f
			o.mu.Unlock()
			return
		}
	}
}

// linkThumb sets the thumbnail of a file about to be recorded.
func (o *Outbox) linkThumb(rel string, f *index.File) {
	if f.HasThumb {
		return // an image: the server makes its thumbnail
	}
	if t, ok := o.uploadedThumb(rel); ok {
		f.ThumbUUID, f.ThumbSecret = t.UUID, t.ShareSecret
		o.mu.Lock()
		delete(o.thumbs, rel)
		o.mu.Unlock()
	}
}
