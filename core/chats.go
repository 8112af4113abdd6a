package core

import (
	"errors"
	"hash/fnv"
	"time"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// chats/: the attachments of the app's conversations, from the message
// history (history.go). chats/users/<user>/, chats/groups/<group id>/ and
// chats/rooms/<room id>/ hold one symlink per file sent there, to
// ../../../files/<uuid>. Any well-formed id names a folder, empty when
// nothing was sent there yet.

// Conversation kinds: the folders of chats/.
var ChatKinds = []string{index.FolderUsers, index.FolderGroups, index.FolderRooms}

// ValidConversation reports whether kind is one of ChatKinds and id a
// well-formed user name, group id or room id (letters, digits, '_', '-',
// '.', at most 64 bytes), so that it may be looked up as a folder.
func ValidConversation(kind, id string) bool {
	switch kind {
	case index.FolderUsers, index.FolderGroups, index.FolderRooms:
		return remote.ValidChatID(id)
	}
	return false
}

// ChatEntry is one entry of a conversation's folder: a symlink to a file
// of files/. It is a value: what the index held when it was listed.
type ChatEntry struct {
	e index.ChatEntry
	f index.File
}

// Name is the entry's name in its folder.
func (c ChatEntry) Name() string { return c.e.Name }

// Sent is when the message that brought the file was sent: the link's
// times.
func (c ChatEntry) Sent() time.Time { return c.e.Sent }

// Entry is the file the link leads to, as files/ shows it.
func (c ChatEntry) Entry() Entry { return Entry{file: c.f} }

// Target is the link's target.
func (c ChatEntry) Target() string { return "../../../files/" + c.e.UUID }

// Ino is the link's inode number: the spare of its file's block (the same
// in every folder showing the file).
func (c ChatEntry) Ino() uint64 { return fileInodes(c.f).Chat }

// ListChat calls fn for every visible entry of a conversation's folder, in
// name order. A folder nothing was sent to is empty.
func (a *App) ListChat(kind, id string, fn func(ChatEntry) error) error {
	if !ValidConversation(kind, id) {
		return ErrNotExist
	}
	return a.opts.Index.ListChat(a.opts.Name, kind, id, func(e index.ChatEntry, f index.File) error {
		if !a.visible(Entry{file: f}) {
			return nil
		}
		return fn(ChatEntry{e, f})
	})
}

// LookupChat finds a name in a conversation's folder.
func (a *App) LookupChat(kind, id, name string) (ChatEntry, error) {
	if !ValidConversation(kind, id) {
		return ChatEntry{}, ErrNotExist
	}
	e, f, err := a.opts.Index.LookupChat(a.opts.Name, kind, id, name)
	if errors.Is(err, index.ErrNotFound) {
		return ChatEntry{}, ErrNotExist
	}
	if err != nil {
		return ChatEntry{}, err
	}
	if !a.visible(Entry{file: f}) {
		return ChatEntry{}, ErrNotExist
	}
	return ChatEntry{e, f}, nil
}

// Conversation is a folder of chats/users/, chats/groups/ or chats/rooms/.
type Conversation struct {
	Kind, ID string
	Latest   time.Time // the newest entry's time; zero when it has none
	app      string
}

// Ino is the folder's stable inode number (see inodes.go).
func (c Conversation) Ino() uint64 { return conversationIno(c.app, c.Kind, c.ID) }

// ListConversations calls fn for every conversation of a kind that has
// attachments, in id order.
func (a *App) ListConversations(kind string, fn func(Conversation) error) error {
	return a.opts.Index.ListConversations(a.opts.Name, kind, func(id string, latest time.Time) error {
		if !ValidConversation(kind, id) {
			return nil
		}
		return fn(Conversation{Kind: kind, ID: id, Latest: latest, app: a.opts.Name})
	})
}

// LookupConversation returns the folder of a well-formed id, whether or
// not anything was sent there.
func (a *App) LookupConversation(kind, id string) (Conversation, error) {
	if !ValidConversation(kind, id) {
		return Conversation{}, ErrNotExist
	}
	latest, err := a.opts.Index.Conversation(a.opts.Name, kind, id)
	if err != nil && !errors.Is(err, index.ErrNotFound) {
		return Conversation{}, err
	}
	return Conversation{Kind: kind, ID: id, Latest: latest, app: a.opts.Name}, nil
}

// conversationIno numbers a conversation's folder from its app, kind and
// id, so that it is stable without a record: 1<<60 | a 60-bit hash.
func conversationIno(app, kind, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(app))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return 1<<60 | h.Sum64()&(1<<60-1)
}
