package core

import (
	"errors"
	"strings"
	"time"

	"github.com/chatfs/chatfs/index"
)

// LookupName finds a name of by-name/.
func (a *App) LookupName(name string) (File, error) {
	f, err := a.opts.Index.LookupName(a.opts.Name, name)
	if errors.Is(err, index.ErrNotFound) {
		return File{}, ErrNotExist
	}
	if err != nil {
		return File{}, err
	}
	if !a.visible(Entry{file: f}) {
		return File{}, ErrNotExist
	}
	return File{f}, nil
}

// ListNames calls fn for every visible file that has a by-name/ entry (its
// LinkName), in uuid order: the same files LookupName finds.
func (a *App) ListNames(fn func(File) error) error {
	return a.opts.Index.List(a.opts.Name, func(f index.File) error {
		if f.LinkName == "" || !a.visible(Entry{file: f}) {
			return nil
		}
		return fn(File{f})
	})
}

// ListFolder calls file for every visible file linked directly in the
// by-name/ folder at path folder ("" for by-name/ itself), then sub once
// for each folder in it that holds a visible file (at any depth), in order
// of first appearance. Folders exist only while they hold links: they are
// the paths of the links. by-name/ itself is read in one scan of the
// records, in uuid order; a folder below it from its links (name order),
// so listing a folder costs what it holds, not what the app holds.
func (a *App) ListFolder(folder string, file func(File) error, sub func(name string) error) error {
	var subs []string
	seen := map[string]bool{}
	add := func(f index.File, rest string) error {
		if rest == "" || !a.visible(Entry{file: f}) {
			return nil
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			if name := rest[:i]; !seen[name] {
				seen[name] = true
				subs = append(subs, name)
			}
			return nil
		}
		return file(File{f})
	}
	var err error
	if folder == "" {
		err = a.opts.Index.List(a.opts.Name, func(f index.File) error {
			return add(f, f.LinkName)
		})
	} else {
		err = a.opts.Index.ListNamesIn(a.opts.Name, folder, func(name, uuid string) error {
			rest := name[len(folder)+1:]
			if i := strings.IndexByte(rest, '/'); i >= 0 && seen[rest[:i]] {
				return nil // a folder already shown: its other files need no read
			}
			f, err := a.opts.Index.Get(a.opts.Name, uuid)
			if errors.Is(err, index.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return add(f, rest)
		})
	}
	if err != nil {
		return err
	}
	for _, name := range subs {
		if err := sub(name); err != nil {
			return err
		}
	}
	return nil
}

// errFound stops a scan that found what it looked for.
var errFound = errors.New("found")

// IsNameFolder reports whether by-name/<folder> is a folder: it holds the
// link of a visible file.
func (a *App) IsNameFolder(folder string) (bool, error) {
	if folder == "" {
		return true, nil
	}
	err := a.opts.Index.ListNamesIn(a.opts.Name, folder, func(_, uuid string) error {
		f, err := a.opts.Index.Get(a.opts.Name, uuid)
		if errors.Is(err, index.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.visible(Entry{file: f}) {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

// ForgetName forgets the file a by-name/ entry points to.
func (a *App) ForgetName(name string) error {
	f, err := a.LookupName(name)
	if err != nil {
		return err
	}
	return a.Forget(f.UUID())
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string
	Value string
}

// XattrShareSecret names a restricted file's share-secret, which the mount
// shows to the mounting user only.
const XattrShareSecret = "user.chatfs.share_secret"

// MayHaveXattr reports whether an entry of files/ can have an extended
// attribute of that name: only user.* ones, so that the security.* and
// system.posix_acl_* names ls -l asks for every file are answered without
// the index.
func MayHaveXattr(name string) bool { return strings.HasPrefix(name, "user.") }

// FileXattrs are the extended attributes of an entry of files/, in a fixed
// order: the chatfs attributes, then the freedesktop ones file managers read.
func FileXattrs(e Entry) []Xattr {
	f := e.file
	var xs []Xattr
	add := func(name, value string) {
		if value != "" {
			xs = append(xs, Xattr{name, value})
		}
	}
	uuid, secret, url := f.UUID, f.ShareSecret, f.URL
	if e.Thumb && f.ThumbUUID != "" {
		uuid, secret, url = f.ThumbUUID, f.ThumbSecret, ""
	}
	add("user.chatfs.uuid", uuid)
	add("user.chatfs.url", url)
	add(XattrShareSecret, secret)
	add("user.chatfs.name", f.Name)
	if m := f.Msg; m != nil && !e.Thumb {
		add("user.chatfs.from", m.From)
		add("user.chatfs.to", m.To)
		add("user.chatfs.chat_type", m.ChatType)
		add("user.chatfs.msg_id", m.MsgID)
		if !m.Sent.IsZero() {
			add("user.chatfs.sent", m.Sent.UTC().Format(time.RFC3339))
		}
	}
	switch {
	case f.Forever:
		add("user.chatfs.expires", "never")
	case !f.Expires.IsZero():
		add("user.chatfs.expires", f.Expires.UTC().Format(time.RFC3339))
	}
	mime := f.MIME
	if e.Thumb {
		mime = "" // the server's thumbnail may be re-encoded: type unknown until read
	}
	add("user.mime_type", mime)
	add("user.xdg.origin.url", url)
	return xs
}
