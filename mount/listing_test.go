//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// A listing answers the kernel's READDIRPLUS lookups from the records it
// read (fs/listing.go): what ls -l shows of each entry must be what a
// lookup by name shows, and rewinddir must list again.
func TestListingShowsWhatLookupShows(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	img := testPNG(t, 300, 200)
	txt := randomBytes(t, 5000)
	require.NoError(t, os.WriteFile(h.path("upload", "photo.png"), img, 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", "notes.txt"), txt, 0o644))
	photo, notes := h.waitUploaded("photo.png"), h.waitUploaded("notes.txt")

	dir, err := os.Open(h.path("files"))
	require.NoError(t, err)
	defer dir.Close()
	entries, err := dir.ReadDir(-1)
	require.NoError(t, err)
	sizes := map[string]int64{}
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		want := os.FileMode(0o644) // the owner may set user.chatfs.lifetime
		if strings.HasSuffix(e.Name(), ".thumb") {
			want = 0o444
		}
		assert.Equal(t, want, info.Mode(), e.Name())
		sizes[e.Name()] = info.Size()
	}
	thumb, err := os.ReadFile(h.path("files", photo+".thumb"))
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{photo: int64(len(img)), photo + ".thumb": int64(len(thumb)), notes: int64(len(txt))}, sizes)

	_, err = dir.Seek(0, io.SeekStart)
	require.NoError(t, err)
	again, err := dir.Readdirnames(-1)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{photo, photo + ".thumb", notes}, again)

	links, err := os.ReadDir(h.path("by-name"))
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range links {
		info, err := e.Info()
		require.NoError(t, err)
		target, err := os.Readlink(h.path("by-name", e.Name()))
		require.NoError(t, err)
		assert.Equal(t, int64(len(target)), info.Size())
		assert.Equal(t, os.ModeSymlink, info.Mode().Type())
		got[e.Name()] = target
	}
	assert.Equal(t, map[string]string{"photo.png": "../files/" + photo, "notes.txt": "../files/" + notes}, got)
}

// The mount keeps only user.* extended attributes: every other namespace
// (security labels, POSIX ACLs, trusted.*) answers ENOTSUP on every kind of
// node, not ENODATA, so that ls -l stops asking for them after the first
// file instead of making two FUSE round trips per file (fs.noXattr).
func TestXattrNamespacesOtherThanUserAreUnsupported(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.WriteFile(h.path("upload", "a.txt"), []byte("a"), 0o644))
	uuid := h.waitUploaded("a.txt")
	require.NoError(t, os.WriteFile(h.path("upload", "staged.part"), []byte("s"), 0o644))

	nodes := []string{h.mnt, h.path(), h.path("files"), h.path("by-name"), h.path("upload"),
		h.path("files", uuid), h.path("by-name", "a.txt"), h.path("upload", "staged.part")}
	buf := make([]byte, 256)
	for _, p := range nodes {
		for _, name := range []string{"security.selinux", "system.posix_acl_access", "system.posix_acl_default", "trusted.x"} {
			_, err := unix.Lgetxattr(p, name, buf)
			assert.ErrorIs(t, err, unix.ENOTSUP, "%s %s", p, name)
		}
		_, err := unix.Lgetxattr(p, "user.nope", buf)
		assert.ErrorIs(t, err, unix.ENODATA, p)
	}
	_, err := unix.Getxattr(h.path("by-name", "a.txt"), "user.chatfs.uuid", buf)
	assert.NoError(t, err, "through the link, files/ still answers its own attributes")
	assert.ErrorIs(t, unix.Removexattr(h.path("upload", "staged.part"), "system.posix_acl_access"), unix.ENOTSUP)
	assert.ErrorIs(t, unix.Setxattr(h.path("upload", "staged.part"), "system.posix_acl_access", []byte{2, 0, 0, 0}, 0), unix.ENOTSUP)
}

// The kernel keeps files/'s listing between opens (fs.dirCache), but never
// past a change: each listing right after an upload, a forget or a file
// first looked up by uuid shows it.
func TestListingFollowsTheIndex(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.WriteFile(h.path("upload", "a.txt"), []byte("a"), 0o644))
	a := h.waitUploaded("a.txt")
	for range 3 { // filled, then served from the kernel's copy
		assert.ElementsMatch(t, []string{a}, readdirnames(t, h.path("files")))
	}

	for range 3 {
		assert.ElementsMatch(t, []string{"a.txt"}, readdirnames(t, h.path("by-name")))
	}

	require.NoError(t, os.WriteFile(h.path("upload", "b.txt"), []byte("b"), 0o644))
	b := h.waitUploaded("b.txt")
	assert.ElementsMatch(t, []string{a, b}, readdirnames(t, h.path("files")), "an upload")
	assert.ElementsMatch(t, []string{a, b}, readdirnames(t, h.path("files")))
	assert.ElementsMatch(t, []string{"a.txt", "b.txt"}, readdirnames(t, h.path("by-name")), "an upload")

	require.NoError(t, os.Remove(h.path("by-name", "a.txt")))
	assert.ElementsMatch(t, []string{b}, readdirnames(t, h.path("files")), "a forget through by-name/")
	assert.ElementsMatch(t, []string{b}, readdirnames(t, h.path("files")))
	assert.ElementsMatch(t, []string{"b.txt"}, readdirnames(t, h.path("by-name")))
	// by-name/ entries are cached for good: forgetting through files/
	// drops the link's entry too (fs.invalidator).
	_, err := os.Lstat(h.path("by-name", "b.txt"))
	require.NoError(t, err)
	require.NoError(t, os.Remove(h.path("files", b)))
	eventually(t, 5*time.Second, "by-name/b.txt to go", func() bool {
		_, err := os.Lstat(h.path("by-name", "b.txt"))
		return os.IsNotExist(err)
	})
	assert.Empty(t, readdirnames(t, h.path("by-name")))
	require.NoError(t, os.WriteFile(h.path("upload", "b2.txt"), []byte("b"), 0o644))
	b = h.waitUploaded("b2.txt")

	res, err := svc.client(t, appID).Upload(context.Background(), remote.UploadRequest{Name: "c", File: bytes.NewReader([]byte("c")), Size: 1})
	require.NoError(t, err)
	_, err = os.Stat(h.path("files", res.UUID))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{b, res.UUID}, readdirnames(t, h.path("files")), "a file looked up by uuid")

	// A reader that stays open across a change sees its own listing; the
	// next one sees the change.
	dir, err := os.Open(h.path("files"))
	require.NoError(t, err)
	defer dir.Close()
	first, err := dir.Readdirnames(1)
	require.NoError(t, err)
	require.NoError(t, os.Remove(h.path("files", b)))
	rest, err := dir.Readdirnames(-1)
	require.NoError(t, err)
	assert.Len(t, append(first, rest...), 2)
	assert.ElementsMatch(t, []string{res.UUID}, readdirnames(t, h.path("files")), "a forget while a reader is open")
	require.NoError(t, dir.Close())
	assert.ElementsMatch(t, []string{res.UUID}, readdirnames(t, h.path("files")))
	assert.ElementsMatch(t, []string{res.UUID}, readdirnames(t, h.path("files")))
}
