package index

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchMessages makes n attachments over n/1000 hours: a third one-to-one
// between 50 users, a third in 20 groups, a third in 10 rooms.
func benchMessages(n int) [][]Message {
	var hours [][]Message
	for h := 0; h*1000 < n; h++ {
		var ms []Message
		for i := h * 1000; i < min(n, (h+1)*1000); i++ {
			m := Message{MsgFacts: MsgFacts{MsgID: strconv.Itoa(1029457500870543736 + i), From: "user" + strconv.Itoa(i%50),
				Sent: hour0.Add(time.Duration(i) * time.Second)},
				UUID: uuidN(i), URL: "https://a1.easemob.com/org/app/chatfiles/" + uuidN(i), Name: "IMG_" + strconv.Itoa(i%300) + ".jpg",
				Size: 123456, ShareSecret: "X9dXsomesecretvalue", MIME: "image/jpeg", HasThumb: true}
			switch i % 3 {
			case 0:
				m.ChatType, m.To = "chat", "user"+strconv.Itoa((i+1)%50)
			case 1:
				m.ChatType, m.To = "groupchat", "group"+strconv.Itoa(i%20)
			default:
				m.ChatType, m.To = "chatroom", "room"+strconv.Itoa(i%10)
			}
			ms = append(ms, m)
		}
		hours = append(hours, ms)
	}
	return hours
}

func settleMem() runtime.MemStats {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// BenchmarkImport100k imports 100,000 attachments (100 hours of 1,000) into
// a fresh on-disk index and reports the time per attachment and the memory
// the records cost the process once imported and after a reopen (they live
// in badger's files, not in memory). Run it alone:
// go test -run '^$' -bench Import100k -benchtime 1x ./index/
func BenchmarkImport100k(b *testing.B) {
	n := float64(benchN)
	hours := benchMessages(benchN)
	for range b.N {
		dir := b.TempDir()
		db, err := Open(dir, Options{Logger: quietLogger()})
		require.NoError(b, err)
		before := settleMem()
		rssBefore, anonBefore := vmRSS(), rssAnon()
		start := time.Now()
		for h, ms := range hours {
			_, err := db.ImportHour("app", HourState{Hour: hour0.Add(time.Duration(h) * time.Hour), State: "done"}, ms)
			require.NoError(b, err)
		}
		elapsed := time.Since(start)
		time.Sleep(500 * time.Millisecond) // let flushes and compactions finish
		after := settleMem()
		b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/attachment")
		b.ReportMetric((vmRSS()-rssBefore)/n, "RSS-B/record")
		b.ReportMetric((rssAnon()-anonBefore)/n, "RssAnon-B/record")
		b.ReportMetric((float64(after.HeapInuse)-float64(before.HeapInuse))/n, "heap-B/record")
		require.NoError(b, db.Close())

		settleMem()
		rssBase, anonBase := vmRSS(), rssAnon()
		db, err = Open(dir, Options{Logger: quietLogger()})
		require.NoError(b, err)
		entries := 0
		start = time.Now()
		require.NoError(b, db.ListChat("app", FolderRooms, "room1", func(ChatEntry, File) error { entries++; return nil }))
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "list-room-ms")
		b.ReportMetric(float64(entries), "room-entries")
		settleMem()
		b.ReportMetric((vmRSS()-rssBase)/n, "reopened-RSS-B/record")
		b.ReportMetric((rssAnon()-anonBase)/n, "reopened-RssAnon-B/record")
		require.NoError(b, db.Close())
	}
}

var benchN = 100_000

// rssAnon is the anonymous part of the resident set (heap, stacks,
// badger's memtables), without the file pages badger's mmaps bring in
// (page cache the kernel reclaims at will).
func rssAnon() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "RssAnon:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}
