//go:build linux

package mount_test

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// statusWriter keeps the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// TestLoadThousandFilesSendAtLimits: 1,000 files dropped into one user's
// folder are each uploaded once and sent once, at the client's send pace,
// and the emulator — which enforces the service's send limits (100
// calls/s, 6,000 messages a minute to users) — refuses none of them.
func TestLoadThousandFilesSendAtLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test: 1,000 files through upload and send")
	}
	const files = 1000
	svc := newService(t, emulator.Options{})
	var mu sync.Mutex
	var sends []time.Time
	refused, uploads := 0, 0
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/messages/"):
			sw := &statusWriter{ResponseWriter: w, status: 200}
			next.ServeHTTP(sw, r)
			mu.Lock()
			sends = append(sends, time.Now())
			if sw.status != 200 {
				refused++
			}
			mu.Unlock()
			return true
		case r.Method == http.MethodPost:
			mu.Lock()
			uploads++
			mu.Unlock()
		}
		return false
	}
	svc.hook.Store(&hook)
	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) {
		o.RateLimit = 250 // uploads: not what is measured here
		o.Uploaders = 8
	})
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < files; i += 8 {
				data := []byte(fmt.Sprintf("%%PDF-1.4\n%% file %d\n", i))
				assert.NoError(t, os.WriteFile(h.path("send", "users", "alice", fmt.Sprintf("f%04d.pdf", i)), data, 0o644))
			}
		})
	}
	wg.Wait()
	eventually(t, 120*time.Second, "1,000 sends", func() bool {
		return len(readdirnames(t, h.path("by-name"))) == files && len(readdirnames(t, h.path("send", "users", "alice"))) == 0
	})
	elapsed := time.Since(start)

	recs, err := svc.emu.Messages("app-id/" + appID)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(sends, func(i, j int) bool { return sends[i].Before(sends[j]) })
	most := 0
	for i, j := 0, 0; j < len(sends); j++ {
		for sends[j].Sub(sends[i]) >= time.Second {
			i++
		}
		most = max(most, j-i+1)
	}
	t.Logf("send load: %d files uploaded and sent in %v (%.0f/s); busiest second %d sends", files, elapsed.Round(time.Millisecond),
		float64(files)/elapsed.Seconds(), most)
	assert.Zero(t, refused, "the emulator refused sends")
	assert.Equal(t, files, uploads, "each file uploaded once")
	assert.Len(t, recs, files, "each file sent once")
	assert.LessOrEqual(t, most, 100, "calls in any second")
	assert.GreaterOrEqual(t, elapsed.Seconds(), float64(files-10)/90*0.9, "no faster than the send pace")
}
