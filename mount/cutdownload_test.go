//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// A download cut at an end that looks normal — a clean chunked end, or an
// HTTP/1.0 answer without Content-Length closed early — is never cached or
// served as the whole file: a read either fails with EIO (it was following
// the cut download) or gets the exact bytes from a download made after the
// cut one failed; the next read gets the exact bytes.
func TestCutDownloadAtNormalLookingEnd(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	c := svc.client(t, appID)
	data := randomBytes(t, 1<<20)
	cuts := map[string]func(w http.ResponseWriter){
		"chunked": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusOK) // no Content-Length: chunked, ended cleanly
			_, _ = w.Write(data[:len(data)/2])
		},
		"http/1.0": func(w http.ResponseWriter) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			_, _ = buf.WriteString("HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
			_, _ = buf.Write(data[:len(data)/2])
			_ = buf.Flush()
			conn.Close() // the end of an HTTP/1.0 body without a length
		},
	}
	uuids := map[string]string{}
	for name := range cuts {
		res, err := c.Upload(context.Background(), remote.UploadRequest{Name: name + ".bin", File: bytes.NewReader(data), Size: int64(len(data))})
		require.NoError(t, err)
		uuids[res.UUID] = name
	}
	var cut sync1
	gets := map[string]*atomic.Int64{}
	for _, name := range uuids {
		gets[name] = new(atomic.Int64)
	}
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		name, ok := uuids[filepath.Base(r.URL.Path)]
		if ok && r.Method == http.MethodGet && r.Header.Get("thumbnail") == "" {
			gets[name].Add(1)
		}
		if !ok || r.Method != http.MethodGet || r.Header.Get("thumbnail") != "" || !cut.first(name) {
			return false
		}
		cuts[name](w)
		return true
	}
	svc.hook.Store(&hook)

	for uuid, name := range uuids {
		t.Run(name, func(t *testing.T) {
			got, err := os.ReadFile(h.path("files", uuid))
			if err != nil {
				require.ErrorIs(t, err, syscall.EIO, "read %d of %d bytes", len(got), len(data))
			} else {
				require.True(t, bytes.Equal(data, got), "never short or wrong bytes (%d of %d)", len(got), len(data))
				require.GreaterOrEqual(t, gets[name].Load(), int64(2), "the cut download was not believed")
			}
			got, err = os.ReadFile(h.path("files", uuid))
			require.NoError(t, err, "the next read downloads again")
			assert.True(t, bytes.Equal(data, got), "exact bytes (%d of %d)", len(got), len(data))
			st, err := os.Stat(h.path("files", uuid))
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), st.Size())
		})
	}
}

// sync1 reports true the first time it is asked about each name.
type sync1 struct{ seen sync.Map }

func (s *sync1) first(name string) bool {
	_, loaded := s.seen.LoadOrStore(name, true)
	return !loaded
}

// One retry layer: one cat of a file against a server that answers every
// download with 503 makes as many GETs as the client's attempts (the cache
// does not retry around the client) and fails with EIO within the
// client's time budget.
func TestReadAgainst503MakesOneClientsAttempts(t *testing.T) {
	svc := newService(t, emulator.Options{})
	state := t.TempDir()
	h := newHarness(t, svc, state)
	data := randomBytes(t, 100_000)
	require.NoError(t, os.WriteFile(h.path("upload", "a.bin"), data, 0o644))
	uuid := h.waitUploaded("a.bin")
	h.unmount()
	dirs, err := config.StateDirs(state)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dirs.Cache, "files", uuid))) // known, not cached

	const attempts = 5
	h.mount(func(o *mount.Options, _ *config.App) {
		o.Retry = remote.RetryPolicy{MaxAttempts: attempts, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	})
	var gets atomic.Int64
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, uuid) {
			return false
		}
		gets.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"service_unavailable","error_description":"busy"}`))
		return true
	}
	svc.hook.Store(&hook)
	start := time.Now()
	_, err = os.ReadFile(h.path("files", uuid))
	elapsed := time.Since(start)
	require.ErrorIs(t, err, syscall.EIO)
	assert.Equal(t, int64(attempts), gets.Load(), "GETs for one cat")
	t.Logf("one cat against 503: %d GETs, EIO after %v", gets.Load(), elapsed.Round(time.Millisecond))
}

// A cache file cut or damaged between two mounts is not served: it is
// checked against the size and checksum recorded when it was cached, and
// downloaded again.
func TestDamagedCacheFileIsFetchedAgain(t *testing.T) {
	svc := newService(t, emulator.Options{})
	state := t.TempDir()
	h := newHarness(t, svc, state)
	data := randomBytes(t, 300_000)
	var uuids []string
	for _, name := range []string{"cut.bin", "flipped.bin"} {
		require.NoError(t, os.WriteFile(h.path("upload", name), data, 0o644))
		uuids = append(uuids, h.waitUploaded(name))
	}
	for _, uuid := range uuids {
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got))
	}
	h.unmount()
	dirs, err := config.StateDirs(state)
	require.NoError(t, err)
	dir := filepath.Join(dirs.Cache, "files")
	require.NoError(t, os.Truncate(filepath.Join(dir, uuids[0]), 1000))
	f, err := os.OpenFile(filepath.Join(dir, uuids[1]), os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{^data[5000]}, 5000)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	h.mount()
	for _, uuid := range uuids {
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "exact bytes of %s (%d of %d)", uuid, len(got), len(data))
		assert.Equal(t, int64(1), svc.emu.DownloadCount(uuid), "downloaded again once")
	}
}
