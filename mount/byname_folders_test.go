//go:build linux

package mount_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote/emulator"
)

// A folder tree dropped into upload/ keeps its shape in by-name/: links in
// read-only folders, targets with one "../" per level, the collision rule
// applied per folder, and the server told the base names.
func TestDroppedFolderKeepsShapeInByName(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")

	// album/x.txt is taken before the drop: it collides in album/ only.
	require.NoError(t, os.MkdirAll(h.path("upload", "album"), 0o755))
	require.NoError(t, os.WriteFile(h.path("upload", "album", "x.txt"), []byte("first"), 0o644))
	first := h.waitUploaded("album/x.txt")

	src := filepath.Join(t.TempDir(), "album")
	want := map[string]string{ // path in by-name/ → content
		"album/x.txt":         "first",
		"album/x (2).txt":     "album x",
		"album/sub/x.txt":     "sub x",
		"album/sub/deep.bin":  strings.Repeat("d", 70000),
		"album/sub/2/two.txt": "two levels",
	}
	files := map[string]string{ // path in the dropped tree → content
		"x.txt":         "album x",
		"sub/x.txt":     "sub x",
		"sub/deep.bin":  strings.Repeat("d", 70000),
		"sub/2/two.txt": "two levels",
	}
	for rel, data := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(src, rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(src, rel), []byte(data), 0o644))
	}
	out, err := exec.Command("cp", "-r", src, h.path("upload")+"/").CombinedOutput()
	require.NoError(t, err, "%s", out)
	uuids := map[string]string{}
	for name := range want {
		uuids[name] = h.waitUploaded(name)
	}
	assert.Equal(t, first, uuids["album/x.txt"])

	for name, data := range want {
		p := h.path("by-name", name)
		target, err := os.Readlink(p)
		require.NoError(t, err, name)
		assert.Equal(t, strings.Repeat("../", 1+strings.Count(name, "/"))+"files/"+uuids[name], target, name)
		got, err := os.ReadFile(p)
		require.NoError(t, err, name)
		assert.Equal(t, data, string(got), name)
		assert.Equal(t, filepath.Base(strings.ReplaceAll(name, " (2)", "")), getxattr(t, p, "user.chatfs.name"), "the server's name is the base name")
	}
	assert.Equal(t, []string{"album"}, readdirnames(t, h.path("by-name")))
	assert.ElementsMatch(t, []string{"x.txt", "x (2).txt", "sub"}, readdirnames(t, h.path("by-name", "album")))
	assert.ElementsMatch(t, []string{"x.txt", "deep.bin", "2"}, readdirnames(t, h.path("by-name", "album", "sub")))

	// The folders are read-only folders with their own stable inodes.
	st, err := os.Lstat(h.path("by-name", "album", "sub"))
	require.NoError(t, err)
	assert.True(t, st.IsDir())
	ino := st.Sys().(*syscall.Stat_t).Ino
	top, err := os.Lstat(h.path("by-name", "album"))
	require.NoError(t, err)
	assert.NotEqual(t, ino, top.Sys().(*syscall.Stat_t).Ino)
	assert.ErrorIs(t, os.Mkdir(h.path("by-name", "album", "new"), 0o755), syscall.EROFS)
	assert.ErrorIs(t, os.WriteFile(h.path("by-name", "album", "sub", "new.txt"), []byte("x"), 0o644), syscall.EROFS)
	assert.ErrorIs(t, os.Symlink("x", h.path("by-name", "album", "l")), syscall.EROFS)
	_, err = os.Lstat(h.path("by-name", "album", "nope"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Lstat(h.path("by-name", "alb"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	// ls -lR and find -L walk it (find -L follows the links into files/).
	out, err = exec.Command("ls", "-lR", h.path("by-name")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, s := range []string{"album/sub/2:", "two.txt -> ../../../../files/" + uuids["album/sub/2/two.txt"], "x (2).txt -> ../../files/"} {
		assert.Contains(t, string(out), s)
	}
	out, err = exec.Command("find", "-L", h.path("by-name"), "-type", "f").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var found []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		rel, err := filepath.Rel(h.path("by-name"), l)
		require.NoError(t, err)
		found = append(found, rel)
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(found)
	sort.Strings(names)
	assert.Equal(t, names, found)

	// rm of a link forgets its file; a folder left empty is gone.
	require.NoError(t, os.Remove(h.path("by-name", "album", "sub", "2", "two.txt")))
	eventually(t, 5*time.Second, "album/sub/2 to go", func() bool {
		_, err := os.Lstat(h.path("by-name", "album", "sub", "2"))
		return os.IsNotExist(err)
	})
	assert.ElementsMatch(t, []string{"x.txt", "deep.bin"}, readdirnames(t, h.path("by-name", "album", "sub")))
	assert.ErrorIs(t, os.Remove(h.path("by-name", "album", "sub")), syscall.ENOTEMPTY)

	// rm in files/ of a file whose link is in a folder: the kernel keeps
	// link entries for good, so the mount must drop this one (through the
	// folder's entry) for it to go at once.
	require.NoError(t, os.Remove(h.path("files", uuids["album/sub/x.txt"])))
	eventually(t, 5*time.Second, "album/sub/x.txt to go after rm in files/", func() bool {
		_, err := os.Lstat(h.path("by-name", "album", "sub", "x.txt"))
		return os.IsNotExist(err)
	})
	assert.Equal(t, []string{"deep.bin"}, readdirnames(t, h.path("by-name", "album", "sub")))

	// rm -r of a folder forgets everything in it.
	out, err = exec.Command("rm", "-r", h.path("by-name", "album")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, readdirnames(t, h.path("by-name")))
	assert.NotContains(t, readdirnames(t, h.path("files")), uuids["album/sub/deep.bin"], "forgotten")
}
