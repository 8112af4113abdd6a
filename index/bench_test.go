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

// vmRSS returns this process's resident set size in bytes, from
// /proc/self/status (0 where there is none).
func vmRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

const mib = 1 << 20

func benchFile(i int) File {
	return File{
		App: "app", UUID: uuidN(i), Name: "IMG_" + strconv.Itoa(i%500) + ".jpg",
		ShareSecret: "X9dXsomesecretvalue", URL: "https://a1.easemob.com/org/app/chatfiles/" + uuidN(i),
		Size: 123456, MIME: "image/jpeg", Uploaded: time.Unix(1700000000, 0), Expires: time.Unix(1700604800, 0),
		HasThumb: true,
	}
}

func fill(b *testing.B, db *DB, n int) {
	b.Helper()
	for i := range n {
		f := benchFile(i)
		require.NoError(b, db.Put(&f))
	}
}

// BenchmarkIdleRSS opens a fresh on-disk index, puts 10,000 records, lets
// it settle and reports the process's resident memory and Go heap. Run it
// alone (-run '^$' -bench IdleRSS -benchtime 1x) for a clean number.
func BenchmarkIdleRSS(b *testing.B) {
	for range b.N {
		settle := func() runtime.MemStats {
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms
		}
		settle()
		base := vmRSS()
		dir := b.TempDir()
		db, err := Open(dir, Options{Logger: quietLogger()})
		require.NoError(b, err)
		fill(b, db, 10_000)
		time.Sleep(500 * time.Millisecond) // let flushes and compactions finish
		ms := settle()
		b.ReportMetric(base/mib, "RSS-before-open-MiB")
		b.ReportMetric(vmRSS()/mib, "idle-RSS-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/mib, "heap-inuse-MiB")
		require.NoError(b, db.Close())

		// After a restart the records sit in tables, not the memtable.
		settle()
		db, err = Open(dir, Options{Logger: quietLogger()})
		require.NoError(b, err)
		require.NoError(b, db.List("app", func(File) error { return nil }))
		ms = settle()
		b.ReportMetric(vmRSS()/mib, "reopened-RSS-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/mib, "reopened-heap-inuse-MiB")
		require.NoError(b, db.Close())
	}
}

// BenchmarkList10k lists 10,000 records of one app.
func BenchmarkList10k(b *testing.B) {
	db, err := Open(b.TempDir(), Options{Logger: quietLogger()})
	require.NoError(b, err)
	defer db.Close()
	fill(b, db, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n := 0
		require.NoError(b, db.List("app", func(File) error { n++; return nil }))
		require.Equal(b, 10_000, n)
	}
}

// BenchmarkPut puts new records (fresh inode and link name) into an
// on-disk index.
func BenchmarkPut(b *testing.B) {
	db, err := Open(b.TempDir(), Options{Logger: quietLogger()})
	require.NoError(b, err)
	defer db.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f := benchFile(i)
		if err := db.Put(&f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueueClaimComplete runs one upload through the queue: Enqueue
// (synced), Claim, Complete (synced).
func BenchmarkEnqueueClaimComplete(b *testing.B) {
	db, err := Open(b.TempDir(), Options{Logger: quietLogger()})
	require.NoError(b, err)
	defer db.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := "dir/" + strconv.Itoa(i)
		require.NoError(b, db.Enqueue("app", p))
		u, ok, err := db.Claim("app", time.Now())
		require.NoError(b, err)
		require.True(b, ok)
		f := benchFile(i)
		require.NoError(b, db.Complete("app", u.Path, &f))
	}
}
