//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// peakRSS is the process's high-water resident set, in MiB.
func peakRSS(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// TestLoadThousandFilesDrainAtRateLimit drops 1,000 files into upload/ at
// once. All are uploaded, and no faster than the client's rate limit.
func TestLoadThousandFilesDrainAtRateLimit(t *testing.T) {
	const files, rate = 1000, 250.0
	svc := newService(t, emulator.Options{})
	var mu sync.Mutex
	var stamps []time.Time
	h := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method == http.MethodPost {
			mu.Lock()
			stamps = append(stamps, time.Now())
			mu.Unlock()
		}
		return false
	}
	svc.hook.Store(&h)
	hm := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) {
		o.RateLimit = rate
		o.Uploaders = 8
	})
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < files; i += 8 {
				data := []byte(fmt.Sprintf("file %d %s", i, strings.Repeat("x", i)))
				assert.NoError(t, os.WriteFile(hm.path("upload", fmt.Sprintf("f%04d.txt", i)), data, 0o644))
			}
		}()
	}
	wg.Wait()
	eventually(t, 60*time.Second, "1,000 uploads", func() bool {
		return len(readdirnames(t, hm.path("by-name"))) == files
	})
	elapsed := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	sort.Slice(stamps, func(i, j int) bool { return stamps[i].Before(stamps[j]) })
	// The most uploads that started in any one-second window.
	most := 0
	for i, j := 0, 0; j < len(stamps); j++ {
		for stamps[j].Sub(stamps[i]) >= time.Second {
			i++
		}
		most = max(most, j-i+1)
	}
	t.Logf("load: %d files drained in %v (%.0f/s); busiest second %d uploads at a limit of %.0f/s; peak RSS %.0f MiB",
		files, elapsed.Round(time.Millisecond), float64(files)/elapsed.Seconds(), most, rate, peakRSS(t))
	assert.Equal(t, files, len(stamps), "each file uploaded once")
	assert.LessOrEqual(t, float64(most), rate+rate/10+1, "the limiter holds the rate (burst allowed)")
	assert.GreaterOrEqual(t, elapsed.Seconds(), float64(files)/rate*0.9, "no faster than the limit")
}

// TestLoadConcurrentReaders: 64 readers of distinct files, then 64 of one
// file; exact bytes, and one download per file.
func TestLoadConcurrentReaders(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	c := svc.client(t, appID)
	type up struct {
		uuid string
		sum  [32]byte
	}
	ups := make([]up, 64)
	for i := range ups {
		data := randomBytes(t, 64<<10+i*4096)
		res, err := c.Upload(context.Background(), remote.UploadRequest{Name: fmt.Sprintf("r%d", i), File: bytes.NewReader(data), Size: int64(len(data))})
		require.NoError(t, err)
		ups[i] = up{res.UUID, sha256.Sum256(data)}
	}
	// Readers stream into a hash, so the figures are the mount's memory,
	// not the test's copies.
	read := func(u up) {
		f, err := os.Open(h.path("files", u.uuid))
		if !assert.NoError(t, err) {
			return
		}
		defer f.Close()
		sum := sha256.New()
		_, err = io.Copy(sum, f)
		if assert.NoError(t, err) {
			assert.Equal(t, u.sum[:], sum.Sum(nil))
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, u := range ups {
		wg.Add(1)
		go func() { defer wg.Done(); read(u) }()
	}
	wg.Wait()
	distinct := time.Since(start)

	big := randomBytes(t, 8<<20)
	res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "big", File: bytes.NewReader(big), Size: int64(len(big))})
	require.NoError(t, err)
	same := up{res.UUID, sha256.Sum256(big)}
	start = time.Now()
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); read(same) }()
	}
	wg.Wait()
	t.Logf("load: 64 readers of distinct files in %v; 64 readers of one 8 MiB file in %v; peak RSS %.0f MiB",
		distinct.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), peakRSS(t))
	for _, u := range ups {
		assert.Equal(t, int64(1), svc.emu.DownloadCount(u.uuid))
	}
	assert.Equal(t, int64(1), svc.emu.DownloadCount(same.uuid), "64 readers share one download")
}

// TestLoadListingTenThousand lists files/ and by-name/ with 10,000 files.
func TestLoadListingTenThousand(t *testing.T) {
	const n = 10_000
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	now := time.Now()
	for i := 0; i < n; i++ {
		f := index.File{App: appID, UUID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Name: fmt.Sprintf("doc-%d.pdf", i%100),
			Size: int64(i), MIME: "application/pdf", Uploaded: now}
		require.NoError(t, h.m.Index.Put(&f))
	}
	runtime.GC()
	start := time.Now()
	names := readdirnames(t, h.path("files"))
	list := time.Since(start)
	require.Len(t, names, n)
	start = time.Now()
	entries, err := os.ReadDir(h.path("by-name"))
	require.NoError(t, err)
	require.Len(t, entries, n)
	listNames := time.Since(start)
	start = time.Now()
	var total int64
	for _, name := range names[:1000] {
		st, err := os.Stat(h.path("files", name))
		require.NoError(t, err)
		total += st.Size()
	}
	stat := time.Since(start)
	t.Logf("load: listing 10,000 files/ entries %v, by-name/ %v, 1,000 stats %v; peak RSS %.0f MiB",
		list.Round(time.Millisecond), listNames.Round(time.Millisecond), stat.Round(time.Millisecond), peakRSS(t))
}
