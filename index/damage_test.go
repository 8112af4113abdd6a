package index

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/internal/testutil"
)

// fillIndex puts n restricted records (two apps) in a new index at dir,
// forgets one, and closes it; it returns the records that remain.
func fillIndex(t *testing.T, dir string, n int) []File {
	t.Helper()
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	var want []File
	up := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		app := []string{"a", "b"}[i%2]
		f := File{App: app, UUID: uuidN(i), Name: fmt.Sprintf("photo %d.jpg", i), ShareSecret: fmt.Sprintf("secret-%d", i),
			URL: "https://h/chatfiles/" + uuidN(i), Size: int64(i), MIME: "image/jpeg", Uploaded: up, Expires: up.Add(time.Hour)}
		if i%3 == 0 { // through the upload path, the way most records arrive
			require.NoError(t, db.Enqueue(app, f.Name))
			_, ok, err := db.Claim(app, time.Now().Add(time.Hour))
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, db.Complete(app, f.Name, &f))
		} else {
			require.NoError(t, db.Put(&f))
		}
		want = append(want, f)
	}
	require.NoError(t, db.Forget(want[1].App, want[1].UUID))
	want = append(want[:1], want[2:]...)
	require.NoError(t, db.Close())
	return want
}

// requireRecords checks that db holds exactly want (ignoring inode numbers
// and link names, which a rebuild assigns afresh).
func requireRecords(t *testing.T, db *DB, want []File) {
	t.Helper()
	n := 0
	for _, app := range []string{"a", "b"} {
		c, err := db.Count(app)
		require.NoError(t, err)
		n += c
	}
	require.Equal(t, len(want), n)
	for _, w := range want {
		got, err := db.Get(w.App, w.UUID)
		require.NoError(t, err, w.UUID)
		got.Ino, got.LinkName, w.Ino, w.LinkName = 0, "", 0, ""
		assert.Equal(t, w, got)
	}
}

// The index is the only copy of the share-secrets: damage between two
// opens is refused plainly (never an empty index, never a panic), and
// Rebuild gets every record back from the record log.
func TestDamagedIndexIsRefusedAndRebuilt(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		says   string
	}{
		{"MANIFEST deleted", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "MANIFEST")))
		}, "MANIFEST is missing"},
		{"table truncated", func(t *testing.T, dir string) {
			require.NoError(t, os.Truncate(oneTable(t, dir), 100))
		}, ".sst"},
		{"table overwritten with garbage", func(t *testing.T, dir string) {
			p := oneTable(t, dir)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			for i := range b {
				b[i] = byte(i*7 + 3)
			}
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}, ".sst"},
		{"table garbled in the middle", func(t *testing.T, dir string) {
			p := oneTable(t, dir)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			for i := len(b) / 3; i < len(b)/3+64; i++ {
				b[i] ^= 0x5a
			}
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}, ".sst"},
		{"every badger file deleted", func(t *testing.T, dir string) {
			ents, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range ents {
				require.NoError(t, os.Remove(filepath.Join(dir, e.Name())))
			}
		}, "lacks 19 of the 19 records"},
		{"index directory deleted", func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(dir))
		}, "lacks 19 of the 19 records"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "index")
			want := fillIndex(t, dir, 20)
			c.damage(t, dir)

			var logs testutil.SyncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			_, err := Open(dir, Options{Logger: logger})
			require.Error(t, err)
			require.ErrorIs(t, err, ErrDamaged)
			assert.Contains(t, err.Error(), c.says)
			assert.Contains(t, err.Error(), dir)
			assert.NotContains(t, err.Error(), "secret-")

			res, err := Rebuild(dir, Options{Logger: logger})
			require.NoError(t, err)
			assert.Equal(t, len(want), res.Records)
			if _, err := os.Stat(res.Aside); res.Aside != "" {
				assert.NoError(t, err, "the damaged index is kept aside")
			}
			db, err := Open(dir, Options{Logger: quietLogger()})
			require.NoError(t, err)
			requireRecords(t, db, want)
			// The rebuilt index is whole: writing and reopening keeps it so.
			f := File{App: "a", UUID: uuidN(99), Name: "new.txt", ShareSecret: "s99"}
			require.NoError(t, db.Put(&f))
			require.NoError(t, db.Close())
			db = openAt(t, dir, newClock())
			requireRecords(t, db, append(want, f))
			assert.NotContains(t, logs.String(), "secret-", "share-secrets never go to the log")
		})
	}
}

func oneTable(t *testing.T, dir string) string {
	t.Helper()
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	require.NoError(t, err)
	require.NotEmpty(t, ssts)
	return ssts[0]
}

// A record log cut mid-line by a crash is read without its torn line, and
// the next append starts on a line of its own.
func TestRecordLogTornLine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	want := fillIndex(t, dir, 6)
	logPath := RecordLogPath(dir)
	st, err := os.Stat(logPath)
	require.NoError(t, err)
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"op":"put","app":"a","uuid":"torn","share_secret":"x`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	got, ls, err := ReadRecordLog(logPath)
	require.NoError(t, err)
	assert.True(t, ls.Torn)
	assert.Zero(t, ls.Bad)
	assert.Len(t, got, len(want))

	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err, "a torn last line is not damage")
	st2, err := os.Stat(logPath)
	require.NoError(t, err)
	assert.Equal(t, st.Size(), st2.Size(), "the torn line is cut off")
	n := File{App: "b", UUID: uuidN(50), Name: "after.txt", ShareSecret: "s50"}
	require.NoError(t, db.Put(&n))
	require.NoError(t, db.Close())

	got, ls, err = ReadRecordLog(logPath)
	require.NoError(t, err)
	assert.False(t, ls.Torn)
	assert.Zero(t, ls.Bad)
	assert.Len(t, got, len(want)+1)
	assert.Equal(t, n.ShareSecret, got[len(got)-1].ShareSecret)
}

// A log line damaged in the middle is skipped, not fatal; the index, which
// still holds that record, writes it to the log again.
func TestRecordLogBadLineIsRefilled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	want := fillIndex(t, dir, 6)
	logPath := RecordLogPath(dir)
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(b), "\n")
	lines[0] = "garbage\n"
	require.NoError(t, os.WriteFile(logPath, []byte(strings.Join(lines, "")), 0o600))

	db := openAt(t, dir, newClock())
	requireRecords(t, db, want)
	got, ls, err := ReadRecordLog(logPath)
	require.NoError(t, err)
	assert.Equal(t, 1, ls.Bad)
	assert.Len(t, got, len(want))
}

// An index made before the record log existed gets its log at the next
// open; the log is private.
func TestRecordLogFilledFromIndex(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "index")
	want := fillIndex(t, dir, 8)
	require.NoError(t, os.Remove(RecordLogPath(dir)))

	db := openAt(t, dir, newClock())
	requireRecords(t, db, want)
	got, _, err := ReadRecordLog(RecordLogPath(dir))
	require.NoError(t, err)
	assert.ElementsMatch(t, uuids(want), uuids(got))
	st, err := os.Stat(RecordLogPath(dir))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func uuids(fs []File) []string {
	var s []string
	for _, f := range fs {
		s = append(s, f.App+"/"+f.UUID)
	}
	return s
}

// Rebuild refuses while a DB holds the directory.
func TestRebuildRefusesWhileOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	fillIndex(t, dir, 2)
	openAt(t, dir, newClock())
	_, err := Rebuild(dir, Options{Logger: quietLogger()})
	assert.True(t, errors.Is(err, ErrLocked), "%v", err)
}

// A table a crash left half written, which the MANIFEST never listed (a
// flush or compaction cut short by kill -9), is not damage: badger drops it
// at open, and the index opens with every record.
func TestUnlistedTableLeftByACrashIsNotDamage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	want := fillIndex(t, dir, 20)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "000999.sst"), make([]byte, 8278), 0o600))
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	requireRecords(t, db, want)
}

// Puts running at once share the record log's fsyncs, and every one of
// them is in the log, whole, each on its own line.
func TestRecordLogConcurrentPuts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f := File{App: "a", UUID: uuidN(i), Name: fmt.Sprintf("f%d.txt", i), ShareSecret: fmt.Sprintf("s%d", i)}
			assert.NoError(t, db.Put(&f))
		})
	}
	wg.Wait()
	require.NoError(t, db.Close())
	got, ls, err := ReadRecordLog(RecordLogPath(dir))
	require.NoError(t, err)
	assert.False(t, ls.Torn)
	assert.Zero(t, ls.Bad)
	require.Len(t, got, n)
	secrets := map[string]string{}
	for _, f := range got {
		secrets[f.UUID] = f.ShareSecret
	}
	for i := range n {
		assert.Equal(t, fmt.Sprintf("s%d", i), secrets[uuidN(i)])
	}
}
