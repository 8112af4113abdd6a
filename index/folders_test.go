package index

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Links keep the folder a file was uploaded from, and the collision rule
// applies per folder.
func TestLinkNameFolders(t *testing.T) {
	db, _ := openTemp(t)
	tests := []struct {
		folder, name, want string
	}{
		{"", "x.jpg", "x.jpg"},
		{"album", "x.jpg", "album/x.jpg"},
		{"album/2024", "x.jpg", "album/2024/x.jpg"},
		{"album", "x.jpg", "album/x (2).jpg"},       // collides in album/ only
		{"album/2024", "y.jpg", "album/2024/y.jpg"}, // no collision there
		{"other", "x.jpg", "other/x.jpg"},
		{"", "x.jpg", "x (2).jpg"},
		{"", "album", "album (2)"},                                       // a file never takes a folder's name
		{"/a//./b/", "z", "a/b/z"},                                       // empty and "." components go
		{"../..", "z", "_../_../z"},                                      // ".." can never leave by-name/
		{"a\x00b", "z", "a_b/z"},                                         // NUL cannot be in a name
		{strings.Repeat("d", 300), "z", strings.Repeat("d", 255) + "/z"}, // cut as names are
	}
	for i, tt := range tests {
		f := File{App: "app", UUID: uuidN(i), Folder: tt.folder, Name: tt.name}
		require.NoError(t, db.Put(&f))
		assert.Equal(t, tt.want, f.LinkName, "%q in %q", tt.name, tt.folder)
		for _, c := range strings.Split(f.LinkName, "/") {
			assert.NotContains(t, []string{"", ".", ".."}, c, f.LinkName)
			assert.LessOrEqual(t, len(c), maxName)
		}
		got, err := db.LookupName("app", f.LinkName)
		require.NoError(t, err)
		assert.Equal(t, f.UUID, got.UUID)
		assert.Equal(t, tt.folder, got.Folder, "the folder as uploaded is kept")
	}

	// A folder whose name a file's link holds gets the suffix too.
	f := File{App: "app", UUID: uuidN(50), Folder: "x.jpg", Name: "in.txt"}
	require.NoError(t, db.Put(&f))
	assert.Equal(t, "x.jpg (2)/in.txt", f.LinkName)

	var under []string
	require.NoError(t, db.ListNamesIn("app", "album", func(name, uuid string) error {
		under = append(under, name)
		return nil
	}))
	assert.Equal(t, []string{"album/2024/x.jpg", "album/2024/y.jpg", "album/x (2).jpg", "album/x.jpg"}, under)

	// Forgetting the last link of a folder frees its name for a file.
	for _, n := range []int{5} {
		require.NoError(t, db.Forget("app", uuidN(n)))
	}
	g := File{App: "app", UUID: uuidN(51), Name: "other"}
	require.NoError(t, db.Put(&g))
	assert.Equal(t, "other", g.LinkName)
}

// The folder goes through the record log: a rebuild puts the links back in
// their folders, and records from before folders stay flat.
func TestLinkFolderRecordLogRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	files := []File{
		{App: "a", UUID: uuidN(1), Name: "x.jpg", Folder: "album/2024"},
		{App: "a", UUID: uuidN(2), Name: "x.jpg", Folder: "album/2024"},
		{App: "a", UUID: uuidN(3), Name: "x.jpg"},
		{App: "a", UUID: uuidN(4), Name: "n.txt", Folder: "caf\xe9"},
	}
	require.NoError(t, db.Enqueue("a", "album/2024/x.jpg"))
	_, ok, err := db.Claim("a", db.now().Add(1e12))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, db.Complete("a", "album/2024/x.jpg", &files[0]))
	for i := range files[1:] {
		require.NoError(t, db.Put(&files[i+1]))
	}
	require.NoError(t, db.Close())

	got, _, err := ReadRecordLog(RecordLogPath(dir))
	require.NoError(t, err)
	folders := map[string]string{}
	for _, f := range got {
		folders[f.UUID] = f.Folder
	}
	for _, f := range files {
		assert.Equal(t, f.Folder, folders[f.UUID])
	}

	require.NoError(t, os.RemoveAll(dir))
	_, err = Rebuild(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	db = openAt(t, dir, newClock())
	links := map[string]string{}
	require.NoError(t, db.ListNames("a", func(name, uuid string) error {
		links[uuid] = name
		return nil
	}))
	assert.Equal(t, map[string]string{
		uuidN(1): "album/2024/x.jpg",
		uuidN(2): "album/2024/x (2).jpg",
		uuidN(3): "x.jpg",
		uuidN(4): "caf\xe9/n.txt",
	}, links)
}

// A file and a folder of the same name placed at once never both take it:
// the two transactions conflict and one reruns.
func TestLinkFolderAndFileRace(t *testing.T) {
	db, _ := openTemp(t)
	for i := range 30 {
		app := "app" + strings.Repeat("x", i)
		file := File{App: app, UUID: uuidN(1), Name: "album"}
		inFolder := File{App: app, UUID: uuidN(2), Folder: "album", Name: "x.jpg"}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); assert.NoError(t, db.Put(&file)) }()
		go func() { defer wg.Done(); assert.NoError(t, db.Put(&inFolder)) }()
		wg.Wait()
		assert.False(t, file.LinkName == "album" && inFolder.LinkName == "album/x.jpg", "both took album: %q %q", file.LinkName, inFolder.LinkName)
	}
}
