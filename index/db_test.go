package index

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

	u, ok, err := db.Claim("app", clk.Now())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "dir/a.txt", u.Path)
	w, up, failed, err := db.Counts("app")
	require.NoError(t, err)
	assert.Equal(t, [3]int{1, 1, 0}, [3]int{w, up, failed})
}

// TestLockedAcrossProcesses holds the directory in a child process (this
// test binary, re-run) and opens it here.
func TestLockedAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("CHATFS_INDEX_TEST_HOLD"); dir != "" {
		db, err := Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("ready\n")
		_, _ = io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
		_ = db.Close()
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedAcrossProcesses$")
	cmd.Env = append(os.Environ(), "CHATFS_INDEX_TEST_HOLD="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	_, err = Open(dir, Options{Logger: quietLogger()})
	assert.ErrorIs(t, err, ErrLocked)

	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

func TestBadgerLogGoesToSlogAtWarning(t *testing.T) {
	var buf strings.Builder
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, nil))}
	l.Infof("chatter %d\n", 1)
	l.Debugf("chatter %d\n", 2)
	l.Warningf("disk %s\n", "slow")
	l.Errorf("broken")
	out := buf.String()
	assert.NotContains(t, out, "chatter")
	assert.Contains(t, out, `level=WARN msg="disk slow" component=badger`)
	assert.Contains(t, out, `level=ERROR msg=broken component=badger`)
}
