package fs

import (
	"context"
	"log/slog"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// chats/: users/, groups/ and rooms/, each a folder per conversation
// holding links to ../../../files/<uuid>.

// xattrHistory on chats/ is the history import's progress, for `chatfs
// status`.
const xattrHistory = "user.chatfs.history"

// chatsDir is an app's chats/: its three folders are fixed.
type chatsDir struct {
	readOnlyDir
	app     *core.App
	log     *slog.Logger
	mounted time.Time
}

// newChatsDir makes chats/ and its folders under app.
// path is chats/'s absolute path, for the desktop's thumbnails.
func newChatsDir(ctx context.Context, app *gofs.Inode, a *core.App, log *slog.Logger, mounted time.Time, path string) *gofs.Inode {
	ino := a.Inodes()
	chats := app.NewPersistentInode(ctx, &chatsDir{app: a, log: log, mounted: mounted},
		gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino.Chats})
	for i, kind := range core.ChatKinds {
		kino := []uint64{ino.ChatUsers, ino.ChatGroups, ino.ChatRooms}[i]
		chats.AddChild(kind, chats.NewPersistentInode(ctx, &kindDir{app: a, kind: kind, log: log, mounted: mounted, path: path + "/" + kind},
			gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: kino}), false)
	}
	return chats
}

var _ = (gofs.NodeLookuper)((*chatsDir)(nil))

func (d *chatsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return fixedLookup(ctx, &d.Inode, name, out)
}

var _ = (gofs.NodeGetattrer)((*chatsDir)(nil))

func (d *chatsDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(out, d.StableAttr().Ino, 0o755, d.mounted)
	return 0
}

var _ = (gofs.NodeGetxattrer)((*chatsDir)(nil))

func (d *chatsDir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != xattrHistory {
		return 0, gofs.ENOATTR
	}
	p, on, err := d.app.HistoryProgress()
	if err != nil {
		return 0, errno(d.log, "getxattr", err)
	}
	if !on {
		return copyXattr(dest, "off")
	}
	return copyXattr(dest, p.String())
}

var _ = (gofs.NodeListxattrer)((*chatsDir)(nil))

func (d *chatsDir) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return copyXattrNames(dest, []string{xattrHistory})
}

// kindDir is chats/users/, chats/groups/ or chats/rooms/: every
// well-formed id looks up as a folder; listings show those with
// attachments.
type kindDir struct {
	readOnlyDir
	app     *core.App
	kind    string
	log     *slog.Logger
	mounted time.Time
	path    string // its absolute path, for the desktop's thumbnails
}

var _ = (gofs.NodeLookuper)((*kindDir)(nil))

func (d *kindDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if !core.ValidConversation(d.kind, name) {
		out.SetEntryTimeout(immutableTimeout) // never a folder (a negative entry)
		return nil, syscall.ENOENT
	}
	c, err := d.app.LookupConversation(d.kind, name)
	if err != nil {
		return nil, errno(d.log, "lookup", err)
	}
	return d.node(ctx, c, out), 0
}

func (d *kindDir) node(ctx context.Context, c core.Conversation, out *fuse.EntryOut) *gofs.Inode {
	n := &convDir{app: d.app, kind: c.Kind, id: c.ID, log: d.log, mounted: d.mounted, path: d.path + "/" + c.ID}
	n.fill(&out.Attr, c)
	out.SetEntryTimeout(immutableTimeout) // a well-formed id is always a folder
	out.SetAttrTimeout(listingTimeout)    // its mtime moves with new messages
	return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: c.Ino()})
}

var _ = (gofs.NodeOpendirHandler)((*kindDir)(nil))

// OpendirHandle opens a listing of the conversations with attachments.
func (d *kindDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &listing[core.Conversation]{
		dir: d,
		load: func(ctx context.Context) ([]core.Conversation, syscall.Errno) {
			var list []core.Conversation
			err := d.app.ListConversations(d.kind, func(c core.Conversation) error {
				list = append(list, c)
				return nil
			})
			if err != nil {
				return nil, errno(d.log, "readdir", err)
			}
			return list, 0
		},
		dirent: func(c core.Conversation) fuse.DirEntry {
			return fuse.DirEntry{Name: c.ID, Ino: c.Ino(), Mode: syscall.S_IFDIR}
		},
		lookup: func(ctx context.Context, c core.Conversation, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
			return d.node(ctx, c, out), 0
		},
	}, 0, 0
}

var _ = (gofs.NodeGetattrer)((*kindDir)(nil))

func (d *kindDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(out, d.StableAttr().Ino, 0o755, d.mounted)
	return 0
}

var _ = (gofs.NodeUnlinker)((*kindDir)(nil))

func (d *kindDir) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

// convDir is one conversation's folder: links named after the files sent
// there, to ../../../files/<uuid>, with the message's time.
type convDir struct {
	readOnlyDir
	// read only
	app      *core.App
	kind, id string
	log      *slog.Logger
	mounted  time.Time
	path     string // its absolute path, for the desktop's thumbnails
}

// fill sets the folder's attributes: its newest entry's time (the mount's
// when it has none) as mtime.
func (d *convDir) fill(out *fuse.Attr, c core.Conversation) {
	t := c.Latest
	if t.IsZero() {
		t = d.mounted
	}
	out.Ino = c.Ino()
	out.Mode = syscall.S_IFDIR | 0o755
	out.Nlink = 2
	out.SetTimes(&t, &t, &t)
}

var _ = (gofs.NodeGetattrer)((*convDir)(nil))

func (d *convDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	c, err := d.app.LookupConversation(d.kind, d.id)
	if err != nil {
		return errno(d.log, "getattr", err)
	}
	d.fill(&out.Attr, c)
	out.SetTimeout(listingTimeout)
	return 0
}

var _ = (gofs.NodeLookuper)((*convDir)(nil))

func (d *convDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	c, err := d.app.LookupChat(d.kind, d.id, name)
	if err != nil {
		return nil, errno(d.log, "lookup", err)
	}
	return d.node(ctx, c, out), 0
}

// node returns the inode of an entry's link, and fills out.
func (d *convDir) node(ctx context.Context, c core.ChatEntry, out *fuse.EntryOut) *gofs.Inode {
	n := &linkNode{ino: c.Ino(), target: c.Target(), uploaded: c.Sent()}
	n.fill(&out.Attr)
	out.SetEntryTimeout(listingTimeout)
	out.SetAttrTimeout(immutableTimeout)
	return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFLNK, Ino: c.Ino()})
}

var _ = (gofs.NodeOpendirHandler)((*convDir)(nil))

// OpendirHandle opens a listing of the folder (see listing).
func (d *convDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &listing[core.ChatEntry]{
		dir: d,
		load: func(ctx context.Context) ([]core.ChatEntry, syscall.Errno) {
			var list []core.ChatEntry
			err := d.app.ListChat(d.kind, d.id, func(c core.ChatEntry) error {
				list = append(list, c)
				return nil
			})
			if err != nil {
				return nil, errno(d.log, "readdir", err)
			}
			offerChats(d.app, d.path, list)
			return list, 0
		},
		dirent: func(c core.ChatEntry) fuse.DirEntry {
			return fuse.DirEntry{Name: c.Name(), Ino: c.Ino(), Mode: syscall.S_IFLNK}
		},
		lookup: func(ctx context.Context, c core.ChatEntry, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
			return d.node(ctx, c, out), 0
		},
	}, 0, 0
}

var _ = (gofs.NodeUnlinker)((*convDir)(nil))

// Unlink is refused: an entry shows a message, which the mount cannot
// unsend (rm files/<uuid> forgets the file, and its links go with it).
func (d *convDir) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }
