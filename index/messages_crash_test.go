package index

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const envImportChild = "CHATFS_TEST_IMPORT_CHILD" // the index directory to import into

// TestImportChildProcess is the child of TestImportKilledMidwayResumes: it
// imports one big hour into the directory it is given, until killed.
func TestImportChildProcess(t *testing.T) {
	dir := os.Getenv(envImportChild)
	if dir == "" {
		t.Skip("run by TestImportKilledMidwayResumes")
	}
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	os.Stdout.WriteString("START\n")
	_, err = db.ImportHour("app", HourState{Hour: hour0, State: "done"}, crashMessages())
	require.NoError(t, err)
	os.Stdout.WriteString("DONE\n")
	require.NoError(t, db.Close())
}

func crashMessages() []Message {
	var ms []Message
	for i := range 3000 {
		ms = append(ms, msg(strconv.Itoa(i), i, "chat", "alice", "bob", uuidN(i), "IMG_"+strconv.Itoa(i%40)+".jpg"))
	}
	return ms
}

// TestImportKilledMidwayResumes kills (SIGKILL) a process importing an
// hour of 3,000 attachments at a random moment, twice, then imports the
// hour again: every attachment is there once, in both folders, with its
// file record and its record log line, and the hour is done.
func TestImportKilledMidwayResumes(t *testing.T) {
	// How long a whole import takes here, so the kills land inside one.
	start := func(dir string) (*exec.Cmd, *bufio.Reader) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportChildProcess$")
		cmd.Env = append(os.Environ(), envImportChild+"="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		r := bufio.NewReader(out)
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "START\n", line)
		return cmd, r
	}
	cmd, r := start(t.TempDir())
	t0 := time.Now()
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "DONE\n", line)
	whole := time.Since(t0)
	require.NoError(t, cmd.Wait())

	dir := t.TempDir()
	for range 2 {
		cmd, _ := start(dir)
		time.Sleep(whole/5 + rand.N(whole*3/5))
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
	}
	db, err := Open(dir, Options{Logger: quietLogger()})
	require.NoError(t, err, "the index opens after kill -9, its record log consistent")
	st, err := db.Hour("app", hour0)
	if err == nil {
		t.Logf("the hour was done before the kill (%d imported)", st.Imported)
	}
	before, err := db.Count("app")
	require.NoError(t, err)
	t.Logf("%d of 3000 files were in before the resumed import", before)
	n, err := db.ImportHour("app", HourState{Hour: hour0, State: "done"}, crashMessages())
	require.NoError(t, err)
	assert.Equal(t, 3000-before, n, "the resumed import adds exactly what was missing")
	for _, user := range []string{"alice", "bob"} {
		seen := map[string]bool{}
		require.NoError(t, db.ListChat("app", FolderUsers, user, func(e ChatEntry, f File) error {
			assert.False(t, seen[e.UUID], "%s twice in %s", e.UUID, user)
			seen[e.UUID] = true
			return nil
		}))
		assert.Len(t, seen, 3000, user)
	}
	count, err := db.Count("app")
	require.NoError(t, err)
	assert.Equal(t, 3000, count)
	require.NoError(t, db.Close())
	logged, _, err := ReadRecordLog(RecordLogPath(dir))
	require.NoError(t, err)
	assert.Len(t, logged, 3000, "every file in the record log")
}
