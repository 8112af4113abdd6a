package core

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"

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
		if u, err := o.app.opts.Index.GetUpload(o.app.opts.Name, p); err == nil && u.State == index.Failed {
			continue
		}
		return p, true
	}
	return "", false
}

// uploadedThumb finds the uploaded thumbnail of rel: the file recorded
// under a sibling's name by this mount, or else by its by-name/ link.
func (o *Outbox) uploadedThumb(rel string) (index.File, bool) {
	o.mu.Lock()
	f, ok := o.thumbs[rel]
	o.mu.Unlock()
	if ok {
		return f, true
	}
	for _, suf := range thumbSuffixes {
		f, err := o.app.opts.Index.LookupName(o.app.opts.Name, path.Base(rel)+suf)
		if err == nil {
			return f, true
		}
	}
	return index.File{}, false
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
