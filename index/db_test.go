package index

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenTwiceIsLocked(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	openAt(t, dir, clk)
	_, err := Open(dir, Options{Logger: quietLogger()})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrLocked), "%v", err)
	assert.Contains(t, err.Error(), dir)
}

func TestCloseReleasesLock(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "second Close")
	db2, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	require.NoError(t, db2.Close())
}

func TestRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	require.NoError(t, db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(keySchema), []byte("2"))
	}))
	require.NoError(t, db.Close())

	_, err = Open(dir, Options{Logger: quietLogger()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer chatfs")
	assert.Contains(t, err.Error(), dir)

	// The failed Open let go of the directory.
	require.NoError(t, db.bdb.Close()) // already closed: harmless
	_, err = Open(dir, Options{Logger: quietLogger()})
	assert.False(t, errors.Is(err, ErrLocked), "%v", err)
}

func TestPermissions(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "state", "index")
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	checkPerms(t, dir)
	for i := range 200 {
		require.NoError(t, db.Put(&File{App: "a", UUID: uuidN(i), Name: "x.jpg"}))
	}
	require.NoError(t, db.Close())
	checkPerms(t, dir)
}

func checkPerms(t *testing.T, dir string) {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		st, err := os.Stat(p)
		require.NoError(t, err)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		assert.Equal(t, want, st.Mode().Perm(), p)
		n++
		return nil
	}))
	assert.Greater(t, n, 2)
}

func TestInMemory(t *testing.T) {
	db, err := Open("", Options{InMemory: true, Logger: quietLogger()})
	require.NoError(t, err)
	defer db.Close()
	f := File{App: "a", UUID: "u1", Name: "n"}
	require.NoError(t, db.Put(&f))
	got, err := db.Get("a", "u1")
	require.NoError(t, err)
	assert.Equal(t, f, got)
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	db, err := Open(dir, Options{Logger: quietLogger(), Now: clk.Now})
	require.NoError(t, err)
	var files []File
	for i := range 10 {
		f := File{App: "app", UUID: uuidN(i), Name: "photo.jpg", Size: int64(i)}
		require.NoError(t, db.Put(&f))
		files = append(files, f)
	}
	require.NoError(t, db.Enqueue("app", "dir/a.txt"))
	require.NoError(t, db.Enqueue("app", "b.txt"))
	require.NoError(t, db.Close())

	db = openAt(t, dir, clk)
	for _, f := range files {
		got, err := db.Get("app", f.UUID)
		require.NoError(t, err)
		assert.Equal(t, f, got)
	}
	got, err := db.LookupName("app", "photo (3).jpg")
	require.NoError(t, err)
	assert.Equal(t, files[2].UUID, got.UUID)

	// New inodes do not reuse old ones.
	f := File{App: "app", UUID: uuidN(100)}
	require.NoError(t, db.Put(&f))
	for _, old := range files {
		assert.NotEqual(t, old.Ino, f.Ino)
	}
	assert.Greater(t, f.Ino, files[len(files)-1].Ino)

	u, ok, err := db.Claim(clk.Now())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "dir/a.txt", u.Path)
	w, up, failed, err := db.Counts("app")
	require.NoError(t, err)
	assert.Equal(t, [3]int{1, 1, 0}, [3]int{w, up, failed})
}
