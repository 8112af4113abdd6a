package emulator

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDownload(t *testing.T) {
	e := newEnv(t, Options{})
	content := bytes.Repeat([]byte("0123456789"), 100)
	uuid, _ := e.put("/org/app", content, nil)
	a := e.get("/org/app", uuid, map[string]string{"Accept": "application/octet-stream"})
	require.Equal(t, 200, a.status)
	assert.Equal(t, content, a.body)
	assert.Equal(t, "application/octet-stream", a.header.Get("Content-Type"))
	assert.Equal(t, "1000", a.header.Get("Content-Length"))
	assert.Equal(t, "bytes", a.header.Get("Accept-Ranges"))
	assert.Empty(t, a.header.Get("Content-Range"))
}

func TestDownloadUnknown(t *testing.T) {
	e := newEnv(t, Options{})
	e.requireNotFound(e.get("/org/app", "5fd74830-1234-4abc-8def-0123456789ab", nil))
	e.requireNotFound(e.get("/app-id/never-used", "5fd74830-1234-4abc-8def-0123456789ab", nil))
}

// TestDownloadBadUUIDs asks for names that are not uuids, some aiming
// outside the data directory or at the emulator's own files: all are
// entity_not_found and nothing outside Dir is read or created.
func TestDownloadBadUUIDs(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	require.NoError(t, os.WriteFile(filepath.Join(parent, "outside"), []byte("OUTSIDE SECRET"), 0o600))
	e := newEnv(t, Options{Dir: dir})
	uuid, _ := e.put("/org/app", []byte("inside"), nil)
	_, err := New(Options{Dir: dir}) // writes Dir/token
	require.NoError(t, err)

	for _, name := range []string{
		"",
		"..",
		"../../outside",
		"..%2f..%2f..%2foutside",
		"..%2F..%2Ftoken",
		"%2e%2e%2f%2e%2e%2ftoken",
		"a/b",
		uuid + "/..",
		uuid + ".json",
		uuid + ".thumb",
		uuid + "%2f..%2f..%2f..%2foutside",
		strings.ToUpper(uuid),
		uuid[:35],
		uuid + "0",
		strings.ReplaceAll(uuid, "-", "_"),
		"%00" + uuid[3:],
		"../token",
		"...",
	} {
		for _, hdr := range []map[string]string{nil, {"thumbnail": "true"}} {
			a := e.get("/org/app", name, hdr)
			e.requireNotFound(a)
		}
	}
	before := files(t, parent)
	assert.Equal(t, 200, e.get("/org/app", uuid, nil).status)
	assert.Equal(t, before, files(t, parent))
	for _, f := range before {
		assert.True(t, f == "outside" || strings.HasPrefix(f, "data"+string(filepath.Separator)), f)
	}
}

func TestDownloadExpiry(t *testing.T) {
	e := newEnv(t, Options{TTL: time.Hour})
	uuid, _ := e.put("/org/app", []byte("short-lived"), nil)
	e.advance(time.Hour)
	assert.Equal(t, 200, e.get("/org/app", uuid, nil).status, "alive until created+TTL")
	e.advance(time.Millisecond)
	e.requireError(e.get("/org/app", uuid, nil), 404, "file_expired", "FileExpiredException", "file "+uuid+" is expired")
	e.requireError(e.get("/org/app", uuid, map[string]string{"thumbnail": "true"}), 404,
		"file_expired", "FileExpiredException", "file "+uuid+" is expired")

	// The default TTL is 7 days.
	d := newEnv(t, Options{})
	uuid, _ = d.put("/org/app", []byte("week"), nil)
	d.advance(168 * time.Hour)
	assert.Equal(t, 200, d.get("/org/app", uuid, nil).status)
	d.advance(time.Second)
	assert.Equal(t, 404, d.get("/org/app", uuid, nil).status)
}

func TestRestrictAccess(t *testing.T) {
	e := newEnv(t, Options{})
	forbidden := func(a answer) {
		t.Helper()
		e.requireError(a, 403, "forbidden_op", "ForbiddenOpException", "share-secret is missing or does not match")
	}
	// Presence of the header restricts, whatever its value.
	for _, v := range []string{"true", "false", ""} {
		uuid, secret := e.put("/org/app", []byte("private "+v), map[string]string{"restrict-access": v})
		forbidden(e.get("/org/app", uuid, nil))
		forbidden(e.get("/org/app", uuid, map[string]string{"share-secret": "wrong"}))
		forbidden(e.get("/org/app", uuid+"?share-secret=wrong", nil))
		forbidden(e.get("/org/app", uuid+"?share-secret=", nil))
		forbidden(e.get("/org/app", uuid, map[string]string{"share-secret": secret[:47]}))

		a := e.get("/org/app", uuid, map[string]string{"share-secret": secret})
		require.Equal(t, 200, a.status)
		assert.Equal(t, "private "+v, string(a.body))
		a = e.get("/org/app", uuid+"?share-secret="+secret, nil)
		require.Equal(t, 200, a.status)
		assert.Equal(t, "private "+v, string(a.body))
		assert.Equal(t, int64(2), e.srv.DownloadCount(uuid), "refused downloads are not counted")
	}
	// Without the header the secret is returned but not needed.
	uuid, secret := e.put("/org/app", []byte("public"), nil)
	assert.NotEmpty(t, secret)
	assert.Equal(t, 200, e.get("/org/app", uuid, nil).status)
	assert.Equal(t, 200, e.get("/org/app", uuid, map[string]string{"share-secret": "anything"}).status)
}

func TestRange(t *testing.T) {
	e := newEnv(t, Options{})
	content := make([]byte, 1000)
	for i := range content {
		content[i] = byte(i)
	}
	uuid, _ := e.put("/org/app", content, nil)
	for _, tc := range []struct {
		rng         string
		first, last int
	}{
		{"bytes=100-", 100, 999},
		{"bytes=10-19", 10, 19},
		{"bytes=0-0", 0, 0},
		{"bytes=990-5000", 990, 999},
		{"bytes=-5", 995, 999},
		{"bytes=-5000", 0, 999},
		{"bytes=999-", 999, 999},
	} {
		a := e.get("/org/app", uuid, map[string]string{"Range": tc.rng})
		require.Equal(t, 206, a.status, tc.rng)
		assert.Equal(t, content[tc.first:tc.last+1], a.body, tc.rng)
		assert.Equal(t, "bytes "+strconv.Itoa(tc.first)+"-"+strconv.Itoa(tc.last)+"/1000", a.header.Get("Content-Range"), tc.rng)
		assert.Equal(t, strconv.Itoa(tc.last-tc.first+1), a.header.Get("Content-Length"), tc.rng)
	}
	// Ranges the emulator ignores: several, malformed, other units.
	for _, rng := range []string{"bytes=0-1,5-6", "bytes=abc", "bytes=5-1", "items=0-1", "bytes=-0", "bytes=-"} {
		a := e.get("/org/app", uuid, map[string]string{"Range": rng})
		require.Equal(t, 200, a.status, rng)
		assert.Equal(t, content, a.body, rng)
	}
	a := e.get("/org/app", uuid, map[string]string{"Range": "bytes=1000-"})
	e.requireError(a, 416, "range_not_satisfiable", "RangeNotSatisfiableException", "the requested range is not satisfiable")
	assert.Equal(t, "bytes */1000", a.header.Get("Content-Range"))
}

func TestNoRange(t *testing.T) {
	e := newEnv(t, Options{NoRange: true})
	content := []byte("0123456789")
	uuid, _ := e.put("/org/app", content, nil)
	for _, rng := range []string{"bytes=5-", "bytes=2-3", "bytes=100-"} {
		a := e.get("/org/app", uuid, map[string]string{"Range": rng})
		require.Equal(t, 200, a.status)
		assert.Equal(t, content, a.body)
		assert.Empty(t, a.header.Get("Content-Range"))
		assert.Empty(t, a.header.Get("Accept-Ranges"))
		assert.Equal(t, "10", a.header.Get("Content-Length"))
	}
}

func TestRestartKeepsFiles(t *testing.T) {
	e := newEnv(t, Options{TTL: time.Hour})
	uuid, _ := e.put("/app-id/X", []byte("kept"), nil)
	ruuid, secret := e.put("/org/app", []byte("kept, restricted"), map[string]string{"restrict-access": "true"})
	big := noisePNG(t, 800, 600)
	iuuid, _ := e.put("/org/app", big, map[string]string{"thumbnail-width": "100", "thumbnail-height": "50"})
	require.NoError(t, e.srv.Close())

	// A new Server on the same Dir, with a clock 59 minutes on.
	s2, err := New(Options{Dir: e.dir, Token: testToken, TTL: time.Hour, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return t0.Add(59 * time.Minute) }})
	require.NoError(t, err)
	hs := httptest.NewServer(s2)
	defer hs.Close()
	e.url = hs.URL
	e.advance(59 * time.Minute)

	assert.Equal(t, "kept", string(e.get("/app-id/X", uuid, nil).body))
	assert.Equal(t, 403, e.get("/org/app", ruuid, nil).status)
	assert.Equal(t, "kept, restricted", string(e.get("/org/app", ruuid, map[string]string{"share-secret": secret}).body))
	a := e.get("/org/app", iuuid, map[string]string{"thumbnail": "true"})
	require.Equal(t, 200, a.status)
	cfg, _ := decodeConfig(t, a.body)
	assert.Equal(t, [2]int{67, 50}, [2]int{cfg.Width, cfg.Height}, "the thumbnail box survives a restart")

	// Expiry counts from the upload, not from the restart.
	s2.SetNow(func() time.Time { return t0.Add(61 * time.Minute) })
	e.advance(2 * time.Minute)
	e.requireError(e.get("/app-id/X", uuid, nil), 404, "file_expired", "FileExpiredException", "file "+uuid+" is expired")
}

func TestDownloadCounters(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/org/app", noisePNG(t, 400, 300), nil)
	other, _ := e.put("/org/app", []byte("other"), nil)
	const readers = 8
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, e.url+"/org/app/chatfiles/"+uuid, nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := http.DefaultClient.Do(req)
			if assert.NoError(t, err) {
				resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	e.get("/org/app", uuid, map[string]string{"Range": "bytes=5-"})
	e.get("/org/app", uuid, map[string]string{"thumbnail": "true"})
	e.get("/org/app", other, nil)
	e.get("/org/app", "5fd74830-1234-4abc-8def-0123456789ab", nil)
	e.get("/org/app", other, map[string]string{"Authorization": "Bearer bad"})

	assert.Equal(t, int64(readers+1), e.srv.DownloadCount(uuid))
	assert.Equal(t, int64(1), e.srv.ThumbnailCount(uuid))
	assert.Equal(t, int64(1), e.srv.DownloadCount(other))
	assert.Equal(t, int64(0), e.srv.DownloadCount("5fd74830-1234-4abc-8def-0123456789ab"))
	assert.Equal(t, Stats{Uploads: 2, Downloads: readers + 2, Thumbnails: 1}, e.srv.Stats())
}
