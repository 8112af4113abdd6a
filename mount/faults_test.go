//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
	"github.com/chatfs/chatfs/remote/faults"
)

// faultTable injects faults in 25% of uploads and of downloads.
func faultTable() faults.Table {
	var t faults.Table
	t[faults.Upload] = faults.Rates{
		faults.Status500: 0.05, faults.Status503: 0.05, faults.Status429: 0.05,
		faults.Drop: 0.04, faults.Truncate: 0.03, faults.Stall: 0.03,
	}
	t[faults.Download] = faults.Rates{
		faults.Status500: 0.04, faults.Status503: 0.03, faults.Status429: 0.04,
		faults.Drop: 0.04, faults.DropBody: 0.03, faults.Truncate: 0.05, faults.Stall: 0.02,
	}
	t[faults.Thumbnail] = t[faults.Download]
	return t
}

// TestFaultsUploadsAndReads runs uploads and lazy reads through a mount
// whose service fails a quarter of the requests: every upload lands (or
// would stay visibly failed), every read is the exact bytes or EIO.
func TestFaultsUploadsAndReads(t *testing.T) {
	n := 120
	if os.Getenv("CHATFS_LONG") != "" {
		n = 500
	}
	svc := newService(t, emulator.Options{})
	inj, err := faults.New(faults.Options{Seed: 42, StallFor: 300 * time.Millisecond, StallDrop: 0.5})
	require.NoError(t, err)
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		inj.Wrap(next).ServeHTTP(w, r)
		return true
	}
	svc.hook.Store(&hook)

	// Files for lazy reads, put on the server while it is healthy.
	c := svc.client(t, appID)
	type file struct {
		uuid string
		data []byte
	}
	remoteFiles := make([]file, n)
	for i := range remoteFiles {
		data := randomBytes(t, 1000+i*997)
		res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "r", File: bytes.NewReader(data), Size: int64(len(data))})
		require.NoError(t, err)
		remoteFiles[i] = file{res.UUID, data}
	}

	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) {
		o.UploadBackoff = 20 * time.Millisecond
		o.Retry = remote.RetryPolicy{MaxAttempts: 3, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxElapsed: 3 * time.Second}
	})
	require.NoError(t, inj.SetRates(faultTable()))

	// Uploads.
	local := map[string][]byte{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("up-%03d.bin", i)
		local[name] = randomBytes(t, 500+i*1013)
		require.NoError(t, os.WriteFile(h.path("upload", name), local[name], 0o644))
	}

	// Lazy reads, in parallel with the uploads.
	var ok, eio, wrong int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				f := remoteFiles[i]
				got, err := os.ReadFile(h.path("files", f.uuid))
				mu.Lock()
				switch {
				case err == nil && bytes.Equal(got, f.data):
					ok++
				case errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOENT):
					// ENOENT: the lookup's own request failed and was not
					// answered 404; nothing was cached.
					eio++
				default:
					wrong++
					t.Errorf("read %s: %d bytes, err %v", f.uuid, len(got), err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	landed, failed := 0, 0
	eventually(t, 90*time.Second, "every upload to land or fail", func() bool {
		landed, failed = 0, 0
		for name := range local {
			if _, err := os.Lstat(h.path("by-name", name)); err == nil {
				landed++
			} else if v, _ := getxattrErr(h.path("upload", name), "user.chatfs.state"); v == "failed" {
				failed++
			}
		}
		return landed+failed == n
	})
	for name, data := range local {
		if target, err := os.Readlink(h.path("by-name", name)); err == nil {
			got, err := os.ReadFile(h.path("files", target[len("../files/"):]))
			require.NoError(t, err)
			require.Equal(t, data, got, name)
		}
	}
	counts := inj.Counts()
	stored := svc.emu.Stats().Uploads - int64(n)
	t.Logf("faults: %d injected (%s)", counts.Total(), counts)
	t.Logf("faults: uploads %d landed, %d failed, %d stored by the server (%d duplicates from answers lost after storing)",
		landed, failed, stored, stored-int64(landed))
	t.Logf("faults: lazy reads %d exact, %d EIO/ENOENT, %d wrong", ok, eio, wrong)
	assert.Zero(t, wrong, "never wrong or short bytes")
	assert.Equal(t, n, landed, "transient faults only: every upload lands")
	assert.Greater(t, counts.Total(), int64(n/4))
}
