package core_test

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
)

// A file uploaded from a folder of upload/ is linked in the same folder of
// by-name/, with a link target one "../" deeper per folder; the server is
// told the base name. Collisions are per folder, and by-name/ lists each
// level with its files and folders.
func TestUploadKeepsFolderInByName(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, nil)
		e.write("album/sub/x.txt", []byte("deep"))
		deep := e.record("album/sub/x.txt")
		e.write("album/x.txt", []byte("one"))
		one := e.record("album/x.txt")
		e.write("album/x.txt", []byte("two")) // same path again: collides in album/ only
		var two core.File
		e.waitFor(func() bool {
			f, err := e.app.LookupName("album/x (2).txt")
			two = f
			return err == nil
		}, "album/x (2).txt")
		e.write("x.txt", []byte("top"))
		top := e.record("x.txt")

		for _, c := range fr.calls() {
			assert.Equal(t, "x.txt", c.Name, "the server is told the base name")
		}
		assert.Equal(t, "album/sub", deep.Folder)
		assert.Equal(t, "album", one.Folder)
		assert.Equal(t, "", top.Folder)

		link := func(name string) string {
			f, err := e.app.LookupName(name)
			require.NoError(t, err, name)
			return f.LinkTarget()
		}
		assert.Equal(t, "../../../files/"+deep.UUID, link("album/sub/x.txt"))
		assert.Equal(t, "../../files/"+one.UUID, link("album/x.txt"))
		assert.Equal(t, "../../files/"+two.UUID(), link("album/x (2).txt"))
		assert.Equal(t, "../files/"+top.UUID, link("x.txt"))

		list := func(folder string) (files, dirs []string) {
			require.NoError(t, e.app.ListFolder(folder, func(f core.File) error {
				files = append(files, f.LinkName())
				return nil
			}, func(name string) error {
				dirs = append(dirs, name)
				return nil
			}))
			return files, dirs
		}
		files, dirs := list("")
		assert.Equal(t, []string{"x.txt"}, files)
		assert.Equal(t, []string{"album"}, dirs)
		files, dirs = list("album")
		assert.ElementsMatch(t, []string{"album/x.txt", "album/x (2).txt"}, files)
		assert.Equal(t, []string{"sub"}, dirs)
		files, dirs = list("album/sub")
		assert.Equal(t, []string{"album/sub/x.txt"}, files)
		assert.Empty(t, dirs)

		for folder, want := range map[string]bool{"album": true, "album/sub": true, "alb": false, "album/x.txt": false, "x.txt": false} {
			ok, err := e.app.IsNameFolder(folder)
			require.NoError(t, err)
			assert.Equal(t, want, ok, folder)
		}
		assert.NotEqual(t, e.app.NameFolderIno("album"), e.app.NameFolderIno("album/sub"))
		assert.GreaterOrEqual(t, e.app.NameFolderIno("album"), uint64(1<<61))

		// Forgetting the last file of a folder removes the folder.
		require.NoError(t, e.app.ForgetName("album/sub/x.txt"))
		ok, err := e.app.IsNameFolder("album/sub")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}
