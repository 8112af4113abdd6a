// Package fs is chatfs's FUSE adapter: a go-fuse node tree whose every
// method finds its node, calls the core, fills the reply and maps the error
// with errno. It holds no upload, download or naming logic of its own, and
// no inode arithmetic: entries, open handles, upload states, inode numbers
// and error predicates all come from core, the one package of chatfs's it
// imports.
//
//	MOUNT/<app>/upload/    a loopback over the app's staging directory
//	MOUNT/<app>/files/     <uuid> and <uuid>.thumb, read-only
//	MOUNT/<app>/by-name/   <name> -> ../files/<uuid>
//	MOUNT/<app>/send/      upload/'s nodes, sent as messages (send.go)
//	MOUNT/<app>/chats/     users|groups|rooms/<id>/<name> -> ../../../files/<uuid>
package fs

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatfs/chatfs/core"
)

// Kernel cache timeouts. Content and attributes of files/ never change for
// a uuid, nor do the fixed folders (the root, <app>/, files/, by-name/ and
// the name upload/), so a path walk does not ask for them again; upload/'s
// contents are uncached because uploads take files out of it behind the
// kernel's back. listingTimeout is for what moves with the index but is
// not worth an invalidation: chats/ folders and their entries, and upload/'s
// attributes.
const (
	immutableTimeout = time.Hour
	listingTimeout   = time.Second
)

// maxRequest is the largest READ or WRITE the kernel sends (MaxWrite),
// and the st_blksize of files/ entries, so that cat and cp read that much
// at a time. Not 1 MiB: a request of 1 MiB and its header no longer fits
// the default pipe size go-fuse splices through (/proc/sys/fs/pipe-max-size),
// and on Linux 6.18 passthrough opens then failed with EIO.
const maxRequest = 512 << 10

// Options configure a mount.
type Options struct {
	Apps       []*core.App
	AllowOther bool // let other users see the mount (off unless asked)
	Debug      bool // log every FUSE request
	Logger     *slog.Logger
	FsName     string // shown in mount tables; default "chatfs"
	// NoPassthrough serves fully cached files through chatfs's read path
	// even where the kernel supports FUSE passthrough.
	NoPassthrough bool
	// CacheUsage, if set, reports the download cache's bytes and files,
	// shown as xattrs of the mount's root for `chatfs status`.
	CacheUsage func() (bytes int64, files int)
	// Control, if set, is the path of the mount's control socket, shown
	// as the root's user.chatfs.control xattr for `chatfs status`.
	Control string
}

// Mount mounts the apps at mountpoint and returns the serving server.
// Unmount with server.Unmount(), then call server.Wait().
func Mount(mountpoint string, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FsName == "" {
		o.FsName = "chatfs"
	}
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return nil, err
	}
	root := &rootNode{opts: o, mounted: time.Now(), mnt: abs, inv: newInvalidator()}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	opts := &gofs.Options{
		MountOptions: fuse.MountOptions{
			FsName:     o.FsName,
			Name:       "chatfs",
			AllowOther: o.AllowOther,
			// The kernel checks every access against the modes and owners
			// chatfs reports, as on a local disk: without it, --allow-other
			// would let anyone read, change and remove the owner's files.
			Options: []string{"default_permissions"},
			// go-fuse's trace quotes file data and xattr values:
			// traceLogger redacts them.
			Debug:  o.Debug,
			Logger: traceLogger(o.Logger, slog.LevelWarn),
			// Extended attributes are part of the contract.
			DisableXAttrs: false,
			// Reads and writes of up to 512 KiB per request (max_read
			// and max_pages follow MaxWrite), not 128 KiB: a cold read
			// follows the download in 4× fewer round trips.
			MaxWrite:     maxRequest,
			MaxReadAhead: maxRequest,
			// A link's target never changes for its inode (by-name/ and
			// chats/ links point to files/<uuid> of their file's block):
			// the kernel may keep every target it read, so ls -l of
			// by-name/ makes no READLINK per link.
			EnableSymlinkCaching: true,
		},
		UID: uid,
		GID: gid,
		// Modes are reported as they are: a staged file made with mode
		// 000 is 000, not go-fuse's stand-in 0644.
		NullPermissions: true,
		// No global entry/attr timeout: nodes that may be cached say so.
		Logger: traceLogger(o.Logger, slog.LevelWarn),
	}
	server, err := fuse.NewServer(negativeLookups{gofs.NewNodeFS(root, opts)}, mountpoint, &opts.MountOptions)
	if err != nil {
		root.inv.stop()
		return nil, err
	}
	s := &Server{Server: server, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		server.Serve()
		root.inv.stop()
	}()
	if err := server.WaitMount(); err != nil {
		return nil, err
	}
	return s, nil
}

// Server is a mounted chatfs: a go-fuse server whose Wait also waits for
// chatfs's own goroutine (see invalidator).
type Server struct {
	*fuse.Server
	done chan struct{} // closed when serving and the invalidator have ended
}

// Wait returns once the file system is unmounted and everything serving
// it has ended.
func (s *Server) Wait() {
	s.Server.Wait()
	<-s.done
}

// negativeLookups lets a node's Lookup ask the kernel to cache its ENOENT:
// one that sets an entry timeout before it returns ENOENT is answered as a
// negative entry (node id 0) valid for that long. go-fuse itself offers
// only a mount-wide NegativeTimeout, which would also cache the misses of
// upload/ and of names an upload may yet bring.
type negativeLookups struct {
	fuse.RawFileSystem
}

func (n negativeLookups) Lookup(cancel <-chan struct{}, header *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	st := n.RawFileSystem.Lookup(cancel, header, name, out)
	if st == fuse.ENOENT && out.EntryTimeout() > 0 {
		out.NodeId = 0
		return fuse.OK
	}
	return st
}

// rootNode is the mount's root: one directory per app.
type rootNode struct {
	readOnlyDir
	opts    Options
	mounted time.Time    // shown as the times of the synthetic directories
	mnt     string       // the mountpoint, absolute
	inv     *invalidator // drops kernel entries of forgotten files
}

var _ = (gofs.NodeOnAdder)((*rootNode)(nil))

func (r *rootNode) OnAdd(ctx context.Context) {
	for _, a := range r.opts.Apps {
		ino := a.Inodes()
		log := r.opts.Logger.With("app", a.Name())
		app := r.NewPersistentInode(ctx, &staticDir{mounted: r.mounted, app: a, log: log}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino.Dir})
		r.AddChild(a.Name(), app, false)
		dir := filepath.Join(r.mnt, a.Name())
		files := &filesDir{app: a, log: log, mounted: r.mounted, passthrough: !r.opts.NoPassthrough, inv: r.inv, path: filepath.Join(dir, "files")}
		byName := &byNameDir{app: a, log: log, mounted: r.mounted, inv: r.inv, files: files, path: filepath.Join(dir, "by-name")}
		files.byName = byName
		app.AddChild("files", app.NewPersistentInode(ctx, files, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino.Files}), false)
		app.AddChild("by-name", app.NewPersistentInode(ctx, byName, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino.ByName}), false)
		app.AddChild("chats", newChatsDir(ctx, app, a, log, r.mounted, filepath.Join(dir, "chats")), false)
		up, err := newUploadRoot(a, log)
		if err != nil {
			log.Error("upload/ unavailable", "err", err)
			continue
		}
		app.AddChild("upload", app.NewPersistentInode(ctx, up, up.stableAttr()), false)
		if sb := a.Sendbox(); sb != nil {
			if send, err := newOutboxRoot(sb, log, true); err != nil {
				log.Error("send/ unavailable", "err", err)
			} else {
				app.AddChild("send", app.NewPersistentInode(ctx, send, send.stableAttr()), false)
			}
		}
	}
}

var _ = (gofs.NodeLookuper)((*rootNode)(nil))

func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return fixedLookup(ctx, &r.Inode, name, out)
}

var _ = (gofs.NodeGetattrer)((*rootNode)(nil))

func (r *rootNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(out, core.RootIno, 0o755, r.mounted)
	return 0
}

// Root xattrs, read by `chatfs status`.
const (
	xattrCacheBytes = "user.chatfs.cache_bytes"
	xattrCacheFiles = "user.chatfs.cache_files"
	xattrControl    = "user.chatfs.control"
)

var _ = (gofs.NodeGetxattrer)((*rootNode)(nil))

func (r *rootNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr == xattrControl && r.opts.Control != "" {
		return copyXattr(dest, r.opts.Control)
	}
	if r.opts.CacheUsage == nil {
		return 0, noXattr(attr)
	}
	bytes, files := r.opts.CacheUsage()
	switch attr {
	case xattrCacheBytes:
		return copyXattr(dest, strconv.FormatInt(bytes, 10))
	case xattrCacheFiles:
		return copyXattr(dest, strconv.Itoa(files))
	}
	return 0, noXattr(attr)
}

var _ = (gofs.NodeListxattrer)((*rootNode)(nil))

func (r *rootNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var names []string
	if r.opts.CacheUsage != nil {
		names = append(names, xattrCacheBytes, xattrCacheFiles)
	}
	if r.opts.Control != "" {
		names = append(names, xattrControl)
	}
	return copyXattrNames(dest, names)
}

// staticDir is an app's directory: its children are fixed at mount time.
type staticDir struct {
	readOnlyDir
	mounted time.Time
	app     *core.App
	log     *slog.Logger
}

var _ = (gofs.NodeLookuper)((*staticDir)(nil))

func (d *staticDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return fixedLookup(ctx, &d.Inode, name, out)
}

var _ = (gofs.NodeGetattrer)((*staticDir)(nil))

func (d *staticDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(out, d.StableAttr().Ino, 0o755, d.mounted)
	return 0
}

// fixedLookup looks up a child of a directory whose children are fixed at
// mount time: the name is cached for good, and so is ENOENT for any other
// name; the attributes for as long as the child's Getattr says (upload/'s
// change, the synthetic folders' do not).
func fixedLookup(ctx context.Context, parent *gofs.Inode, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	out.SetEntryTimeout(immutableTimeout)
	child := parent.GetChild(name)
	if child == nil {
		return nil, syscall.ENOENT // a negative entry (see negativeLookups)
	}
	if ga, ok := child.Operations().(gofs.NodeGetattrer); ok {
		var a fuse.AttrOut
		if errno := ga.Getattr(ctx, nil, &a); errno != 0 {
			return nil, errno
		}
		out.Attr = a.Attr
		out.AttrValid, out.AttrValidNsec = a.AttrValid, a.AttrValidNsec
	}
	return child, 0
}

// dirAttr fills the attributes of a synthetic directory, which never
// change while mounted.
func dirAttr(out *fuse.AttrOut, ino uint64, mode uint32, t time.Time) {
	out.Ino = ino
	out.Mode = syscall.S_IFDIR | mode
	out.Nlink = 2
	out.SetTimes(&t, &t, &t)
	out.SetTimeout(immutableTimeout)
}
