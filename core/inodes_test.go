package core_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
)

// Inode numbers survive remounts, so they are pinned: an app's folders by
// its name, a file's nodes by the block the index gave its record.
func TestInodesAreStable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newFakeRemote(), nil)
	const appBase = 0x10000007daa0cb0   // 1<<56 | fnv32a("app")<<2
	const chatsBase = 0x20000007daa0cb0 // 1<<57 | fnv32a("app")<<2
	assert.Equal(t, core.AppInodes{Dir: appBase, Files: appBase + 1, ByName: appBase + 2,
		Chats: chatsBase, ChatUsers: chatsBase + 1, ChatGroups: chatsBase + 2, ChatRooms: chatsBase + 3}, e.app.Inodes())

	a := index.File{App: testApp, UUID: uuidA, Name: "a.png", Size: 1, HasThumb: true}
	b := index.File{App: testApp, UUID: uuidB, Name: "b.txt", Size: 1}
	require.NoError(t, e.idx.Put(&a))
	require.NoError(t, e.idx.Put(&b))
	for _, f := range []index.File{a, b} {
		assert.GreaterOrEqual(t, f.Ino, uint64(1<<40), "files lie above the staging disk's numbers")
		assert.Zero(t, (f.Ino-1<<40)%4, "a block of four per file")
	}
	assert.NotEqual(t, a.Ino, b.Ino)

	ino := map[string]uint64{}
	require.NoError(t, e.app.List(func(en core.Entry) error { ino[en.Name()] = en.Ino(); return nil }))
	assert.Equal(t, map[string]uint64{uuidA: a.Ino, uuidA + core.ThumbSuffix: a.Ino + 1, uuidB: b.Ino}, ino)

	// by-name/ folders: 1<<61 | fnv64a(app, 0, folder) & (1<<60-1).
	assert.Equal(t, uint64(0x2d5a01df97dca2b3), e.app.NameFolderIno("album"))

	got := map[string]core.FileInodes{}
	require.NoError(t, e.app.ListNames(func(f core.File) error { got[f.LinkName()] = f.Inodes(); return nil }))
	assert.Equal(t, map[string]core.FileInodes{
		"a.png": {File: a.Ino, Thumb: a.Ino + 1, ByName: a.Ino + 2, Chat: a.Ino + 3},
		"b.txt": {File: b.Ino, Thumb: b.Ino + 1, ByName: b.Ino + 2, Chat: b.Ino + 3},
	}, got)
}

// Every attribute an entry of files/ shows is one MayHaveXattr admits, so
// fs may answer the others (security.*, system.posix_acl_*) at once.
func TestMayHaveXattrAdmitsEveryFileXattr(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newFakeRemote(), nil)
	f := index.File{App: testApp, UUID: uuidA, Name: "a.png", Size: 1, HasThumb: true, ShareSecret: "s",
		URL: "http://x/" + uuidA, MIME: "image/png", Expires: time.Unix(1e9, 0)}
	require.NoError(t, e.idx.Put(&f))
	n := 0
	require.NoError(t, e.app.List(func(en core.Entry) error {
		for _, x := range core.FileXattrs(en) {
			assert.True(t, core.MayHaveXattr(x.Name), x.Name)
			n++
		}
		return nil
	}))
	assert.Greater(t, n, 6)
	for _, name := range []string{"security.selinux", "system.posix_acl_access", "system.posix_acl_default", "trusted.x"} {
		assert.False(t, core.MayHaveXattr(name), name)
	}
}
