package core

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // image sizes for img messages
	_ "image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/gabriel-vasile/mimetype"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// send/ is an outbox whose files are also sent as messages: a file staged
// at <kind>/<target>/<name> (kind users, groups or rooms) is uploaded as in
// upload/, then sent to <target> from the app's sender (Options.SendAs).
// The two steps are durable apart:
//
//  1. the upload is recorded in the file's queue entry (index.Uploaded,
//     synced) before the message is sent: from then on the file is only
//     ever sent, never uploaded again, whatever crashes;
//  2. the message id is recorded with the file (index.Complete, synced),
//     then the staged bytes move to the cache, out of send/.
//
// Between the service accepting the message and step 2 (a crash, a kill,
// an unmount whose grace ran out, an answer lost on the way) the next
// attempt sends the message again: that window, a single round trip, is the
// only way a message repeats. A crash between the upload's answer and step
// 1 uploads the file again, as upload/ would.

// sendDirs are the folders of send/ and the kind of conversation each
// holds.
var sendDirs = map[string]remote.ChatKind{
	"users":  remote.ToUsers,
	"groups": remote.ToGroups,
	"rooms":  remote.ToRooms,
}

// chatTypes are the history's chat_type of each kind of send.
var chatTypes = map[remote.ChatKind]string{
	remote.ToUsers:  "chat",
	remote.ToGroups: "groupchat",
	remote.ToRooms:  "chatroom",
}

// IsSendDir reports whether name is one of send/'s folders: users,
// groups or rooms.
func IsSendDir(name string) bool {
	_, ok := sendDirs[name]
	return ok
}

// ValidTarget reports whether name is a well-formed user name, group id
// or room id: a folder of send/users/, send/groups/ or send/rooms/.
func ValidTarget(name string) bool { return remote.ValidTarget(name) }

// errNoTarget: a staged file of send/ that is not in a target's folder.
var errNoTarget = errors.New("not in a conversation's folder (send/users/<user>/, send/groups/<group id>/, send/rooms/<room id>/): not sent")

// sendTarget reads a send/ path: its kind, target and file name.
func sendTarget(rel string) (remote.ChatKind, string, string, error) {
	parts := strings.Split(rel, "/")
	if len(parts) != 3 {
		return "", "", "", errNoTarget
	}
	kind, ok := sendDirs[parts[0]]
	if !ok || !remote.ValidTarget(parts[1]) {
		return "", "", "", errNoTarget
	}
	return kind, parts[1], parts[2], nil
}

// errSend wraps the failures of a message's send, so that upload can tell
// them from the upload's.
type errSend struct{ err error }

func (e *errSend) Error() string { return "sending the message: " + e.err.Error() }
func (e *errSend) Unwrap() error { return e.err }

// deliver sends the message of a file uploaded as file from the send/
// path rel, staged at full, and records the message in file.Msg. A
// thumbnail sibling (clip.mp4.thumb.jpg beside clip.mp4) is not sent: the
// video's message refers to it.
func (o *Outbox) deliver(ctx context.Context, rel, full string, file *index.File) error {
	kind, to, name, err := sendTarget(rel)
	if err != nil {
		return err
	}
	if o.isThumbOfStaged(rel) {
		return nil
	}
	file.Name = name // renamed since it was uploaded: the name it has now
	msg, err := o.message(full, *file)
	if err != nil {
		return err
	}
	msg.To = []string{to}
	res, err := o.app.opts.Remote.SendMessage(ctx, kind, msg)
	if err != nil {
		return &errSend{err}
	}
	file.Msg = &index.MsgFacts{MsgID: res.IDs[to], From: msg.From, To: to, ChatType: chatTypes[kind], Sent: res.Timestamp}
	o.app.log.Info("sent", "path", rel, "uuid", file.UUID, "type", msg.Type, "msg_id", file.Msg.MsgID)
	return nil
}

// isThumbOfStaged reports whether rel is the thumbnail sibling of a file
// staged beside it (clip.mp4.thumb.jpg of clip.mp4).
func (o *Outbox) isThumbOfStaged(rel string) bool {
	for _, suf := range thumbSuffixes {
		if video, ok := strings.CutSuffix(rel, suf); ok && !strings.HasSuffix(video, "/") {
			if fi, err := os.Lstat(o.staged(video)); err == nil && fi.Mode().IsRegular() {
				return true
			}
		}
	}
	return false
}

// staged is the staged file of rel.
func (o *Outbox) staged(rel string) string { return o.dir + "/" + rel }

// message is the message that carries file, staged at full: its type and
// body from the file's content (see describe).
func (o *Outbox) message(full string, file index.File) (remote.Message, error) {
	f, err := os.OpenFile(full, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return remote.Message{}, errGone
	}
	if err != nil {
		return remote.Message{}, err
	}
	defer f.Close()
	d := describe(f, file.Name)
	body := remote.MessageBody{URL: file.URL, Filename: file.Name, Secret: file.ShareSecret, FileLength: file.Size}
	switch d.Type {
	case remote.MsgImage:
		body.Size = &remote.ImageSize{Width: d.Width, Height: d.Height}
	case remote.MsgVideo:
		if file.ThumbUUID != "" {
			body.Thumb = siblingURL(file.URL, file.UUID, file.ThumbUUID)
			body.ThumbSecret = file.ThumbSecret
		}
	}
	return remote.Message{From: o.app.opts.SendAs, Type: d.Type, Body: body}, nil
}

// siblingURL is the URL of another upload of the same app: url with its
// last segment (uuid) replaced by other.
func siblingURL(url, uuid, other string) string {
	return strings.TrimSuffix(url, uuid) + other
}

// content is what a file's bytes say it is, for its message.
type content struct {
	MIME          string
	Type          string // remote.MsgImage, MsgVideo, MsgAudio or MsgFile
	Width, Height int    // images
}

// sniffLimit is how much of a file mimetype reads to tell its type.
const sniffLimit = 3072

// describe tells a file's message type from its content: an image whose
// size can be read (PNG, JPEG, GIF, WebP, BMP) is img, video and audio
// are video and audio, anything else (an image of another format too)
// is file. The extension decides only when the content says nothing
// specific (octet-stream or plain text).
func describe(f io.ReaderAt, name string) content {
	head := make([]byte, sniffLimit)
	n, _ := f.ReadAt(head, 0)
	t := mimetype.Detect(head[:n]).String()
	t, _, _ = strings.Cut(t, ";")
	if t == "application/octet-stream" || t == "text/plain" {
		if byExt, _, _ := strings.Cut(mime.TypeByExtension(path.Ext(name)), ";"); byExt != "" {
			t = byExt
		}
	}
	c := content{MIME: t, Type: remote.MsgFile}
	switch {
	case strings.HasPrefix(t, "image/"):
		if cfg, _, err := image.DecodeConfig(io.NewSectionReader(f, 0, 1<<40)); err == nil && cfg.Width > 0 && cfg.Height > 0 {
			c.Type, c.Width, c.Height = remote.MsgImage, cfg.Width, cfg.Height
		}
	case strings.HasPrefix(t, "video/"):
		c.Type = remote.MsgVideo
	case strings.HasPrefix(t, "audio/"):
		c.Type = remote.MsgAudio
	}
	return c
}

// sendPermanent reports failures of a send that retrying will not mend: a
// message refused (before sending or by the service with 400), or an
// answer not understood, which may well mean the message went (sending it
// again could repeat it).
func sendPermanent(err error) bool {
	var se *errSend
	if !errors.As(err, &se) {
		return false
	}
	return errors.Is(err, remote.ErrInvalidMessage) || remote.IsInvalid(err) || errors.Is(err, remote.ErrMalformedAnswer) ||
		remote.IsAppNotFound(err)
}

// sendReason is user.chatfs.error for a failed send.
func sendReason(err error) string {
	var se *errSend
	if errors.As(err, &se) && errors.Is(err, remote.ErrMalformedAnswer) {
		return fmt.Sprintf("%v; the message may have been sent, so it is not sent again: touch the file to send it anyway", err)
	}
	return reason(err)
}

// recordUploaded records the upload of a send/ file in its queue entry,
// with its thumbnail sibling if one was uploaded: from now on it is only
// sent. A stale entry (renamed or changed meanwhile) is errStale.
func (o *Outbox) recordUploaded(rel string, file *index.File) error {
	o.linkThumb(rel, file)
	err := o.app.opts.Index.Uploaded(o.queue, rel, *file)
	if errors.Is(err, index.ErrNotFound) {
		return errStale
	}
	return err
}

// makeSendDirs makes send/'s three folders.
func (o *Outbox) makeSendDirs() error {
	for d := range sendDirs {
		if err := os.MkdirAll(o.staged(d), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// TargetDir makes sure the folder of a conversation exists in send/: kind
// is one of send/'s folders (IsSendDir), name a ValidTarget (ErrBadTarget otherwise).
// Every well-formed name is a folder: one looked up is made on disk, its
// name synced so that a file closed in it survives a crash.
func (o *Outbox) TargetDir(kind, name string) error {
	if _, ok := sendDirs[kind]; !ok || !o.sends {
		return ErrNotExist
	}
	if !ValidTarget(name) {
		return ErrBadTarget
	}
	err := os.Mkdir(o.staged(kind+"/"+name), 0o700)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return err
	}
	return o.sync.Dir(o.staged(kind))
}

// Targets lists the conversations of kind that have files in send/, and
// those chats/ knows (whose folders it makes). Folders made by a lookup
// and left empty are not shown; start removes them.
func (o *Outbox) Targets(kind string) ([]string, error) {
	ents, err := os.ReadDir(o.staged(kind))
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	err = o.app.opts.Index.ListConversations(o.app.opts.Name, kind, func(id string, _ time.Time) error {
		if ValidTarget(id) && o.TargetDir(kind, id) == nil {
			seen[id] = true
			out = append(out, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() || !ValidTarget(e.Name()) || seen[e.Name()] {
			continue
		}
		if d, err := os.Open(o.staged(kind + "/" + e.Name())); err == nil {
			names, _ := d.Readdirnames(1)
			d.Close()
			if len(names) > 0 {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// pruneTargets removes the empty folders of send/'s targets, at start.
func (o *Outbox) pruneTargets() {
	for kind := range sendDirs {
		ents, _ := os.ReadDir(o.staged(kind))
		for _, e := range ents {
			if e.IsDir() {
				_ = os.Remove(o.staged(kind + "/" + e.Name())) // fails unless empty
			}
		}
	}
}
