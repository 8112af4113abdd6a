//go:build linux

package mount_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote/emulator"
)

// Crash points on the upload path, made from the server's side: the mount
// process is killed while the server holds an upload at that point.
const (
	crashMidBody  = "mid-body" // the server has read part of the body
	crashAccepted = "accepted" // the server stored the file; its answer is held back
	crashQueued   = "queued"   // files closed in upload/, no upload started
)

// trapUploads makes the service stop at point on the next upload: it
// signals hit and holds the request until release is closed.
func trapUploads(svc *service, point string, hit chan<- struct{}, release <-chan struct{}) {
	armed := make(chan struct{}, 1)
	armed <- struct{}{}
	h := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chatfiles") {
			return false
		}
		select {
		case <-armed:
		default:
			return false
		}
		switch point {
		case crashMidBody:
			_, _ = io.CopyN(io.Discard, r.Body, 100)
		case crashAccepted:
			next.ServeHTTP(httptest.NewRecorder(), r) // stored; the answer never leaves
		}
		hit <- struct{}{}
		<-release
		return true
	}
	svc.hook.Store(&h)
}

// TestCrashPointsLoseNothing kills the mount at each point of the upload
// path over several rounds, remounting on the same state each time. Every
// file ends up uploaded with its bytes intact; duplicates are counted and
// bounded by the uploads caught between the server's answer and the index.
func TestCrashPointsLoseNothing(t *testing.T) {
	requireFUSE(t)
	rounds := 2
	if os.Getenv("CHATFS_LONG") != "" {
		rounds = 10
	}
	svc := newService(t, emulator.Options{})
	state := t.TempDir()
	want := map[string][]byte{}
	points := []string{crashQueued, crashMidBody, crashAccepted}
	accepted := 0
	for round := 0; round < rounds; round++ {
		for _, point := range points {
			mnt := t.TempDir()
			hit, release := make(chan struct{}, 1), make(chan struct{})
			if point != crashQueued {
				trapUploads(svc, point, hit, release)
			}
			child := startChild(t, mnt, state, svc.url, svc.emu.Token())
			for i := 0; i < 4; i++ {
				name := fmt.Sprintf("r%02d-%s-%d.bin", round, point, i)
				data := randomBytes(t, 20_000+i*50_000)
				require.NoError(t, os.WriteFile(filepath.Join(mnt, appID, "upload", name), data, 0o644))
				want[name] = data
			}
			if point != crashQueued {
				select {
				case <-hit:
				case <-time.After(15 * time.Second):
					t.Fatalf("round %d: no upload reached %s", round, point)
				}
			}
			require.NoError(t, child.Process.Signal(syscall.SIGKILL))
			_, _ = child.Process.Wait()
			lazyUnmount(mnt)
			svc.hook.Store(nil)
			close(release)
			if point == crashAccepted {
				accepted++
			}
		}
	}

	h := newHarness(t, svc, state)
	for name, data := range want {
		uuid := h.waitUploaded(name)
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		require.Equal(t, data, got, name)
	}
	uploads := svc.emu.Stats().Uploads
	dups := int(uploads) - len(want)
	kills := rounds * len(points)
	t.Logf("crash rounds: %d kills, %d files, %d uploads stored, %d duplicates (%.1f per kill; %d kills held an upload the server had stored)",
		kills, len(want), uploads, dups, float64(dups)/float64(kills), accepted)
	assert.GreaterOrEqual(t, dups, accepted, "an upload the server stored but the index did not record is sent again")
	// The bound: each kill duplicates at most the uploads in flight (4
	// uploaders) that the server had stored and chatfs not yet recorded.
	assert.LessOrEqual(t, dups, kills*4)
}
