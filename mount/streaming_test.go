//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestReadStartsBeforeDownloadEnds: the server sends the first part of a
// file and then holds the rest; a read of the first bytes through the mount
// returns meanwhile, and the whole file reads right once the rest comes.
func TestReadStartsBeforeDownloadEnds(t *testing.T) {
	svc := newService(t, emulator.Options{})
	data := randomBytes(t, 2<<20)
	res, err := svc.client(t, appID).Upload(context.Background(), remote.UploadRequest{Name: "s", File: bytes.NewReader(data), Size: int64(len(data))})
	require.NoError(t, err)

	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, res.UUID) {
			return false
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body[:256<<10])
		http.NewResponseController(w).Flush()
		<-release
		_, _ = w.Write(body[256<<10:])
		return true
	}
	svc.hook.Store(&hook)
	h := newHarness(t, svc, "")

	f, err := os.Open(h.path("files", res.UUID))
	require.NoError(t, err)
	defer f.Close()
	got := make(chan error, 1)
	head := make([]byte, 64<<10)
	go func() {
		_, err := io.ReadFull(f, head)
		got <- err
	}()
	select {
	case err := <-got:
		require.NoError(t, err)
		assert.Equal(t, data[:len(head)], head)
	case <-time.After(10 * time.Second):
		t.Fatal("the first bytes did not arrive while the server held the rest")
	}
	close(release)
	all, err := os.ReadFile(h.path("files", res.UUID))
	require.NoError(t, err)
	assert.Equal(t, data, all)
	assert.Equal(t, int64(1), svc.emu.DownloadCount(res.UUID))
}
