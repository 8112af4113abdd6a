//go:build linux

package mount_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote/emulator"
)

// lsL lists a folder as ls -l does: names, then lstat and readlink of each.
func lsL(b *testing.B, dir string) int {
	f, err := os.Open(dir)
	require.NoError(b, err)
	names, err := f.Readdirnames(-1)
	f.Close()
	require.NoError(b, err)
	for _, n := range names {
		p := filepath.Join(dir, n)
		_, err := os.Lstat(p)
		require.NoError(b, err)
		_, err = os.Readlink(p)
		require.NoError(b, err)
	}
	return len(names)
}

// BenchmarkChatsListing5000 lists a chats/ folder of 5,000 entries as ls -l
// does, interleaved with a local folder of 5,000 symlinks on the disk of
// the test's temporary directory, and reports both and their ratio. The
// entries are put in the index before the mount (as an import would).
func BenchmarkChatsListing5000(b *testing.B) {
	const n = 5000
	state := b.TempDir()
	dirs, err := config.StateDirs(state)
	require.NoError(b, err)
	require.NoError(b, dirs.MakeDirs())
	db, err := index.Open(filepath.Join(dirs.Data, "index"), index.Options{Logger: quietLogger()})
	require.NoError(b, err)
	local := b.TempDir()
	hour := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	var msgs []index.Message
	for i := range n {
		uuid := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		msgs = append(msgs, index.Message{MsgFacts: index.MsgFacts{MsgID: strconv.Itoa(i), From: "alice", To: "g1",
			ChatType: "groupchat", Sent: hour.Add(time.Duration(i) * time.Millisecond)},
			UUID: uuid, Name: "IMG_" + strconv.Itoa(i%700) + ".jpg", Size: 1234})
	}
	_, err = db.ImportHour(appID, index.HourState{Hour: hour, State: "done", Final: true}, msgs)
	require.NoError(b, err)
	require.NoError(b, db.ListChat(appID, index.FolderGroups, "g1", func(e index.ChatEntry, _ index.File) error {
		return os.Symlink("../../../files/"+e.UUID, filepath.Join(local, e.Name))
	}))
	require.NoError(b, db.Close())

	h := newHarness(b, newService(b, emulator.Options{}), state)
	chats := h.path("chats", "groups", "g1")
	require.Equal(b, n, lsL(b, chats))
	require.Equal(b, n, lsL(b, local))
	var tChats, tLocal time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		lsL(b, local)
		t1 := time.Now()
		lsL(b, chats)
		tLocal += t1.Sub(t0)
		tChats += time.Since(t1)
		time.Sleep(1100 * time.Millisecond) // past the entry timeout: the kernel asks again
	}
	b.StopTimer()
	b.ReportMetric(float64(tChats.Microseconds())/float64(b.N)/1000, "chats-ms")
	b.ReportMetric(float64(tLocal.Microseconds())/float64(b.N)/1000, "local-ms")
	b.ReportMetric(float64(tChats)/float64(tLocal), "ratio")
}
