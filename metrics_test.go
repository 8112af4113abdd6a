package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetricsScrapedAfterUploads: --metrics serves Prometheus metrics on
// loopback; after two uploads and a read they count the uploads by
// outcome, their bytes, the requests by endpoint, the queue and the cache.
func TestMetricsScrapedAfterUploads(t *testing.T) {
	mnt := t.TempDir()
	m := startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "50ms", "--metrics", "127.0.0.1:0")
	url := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(m.errb.String())
	require.NotNil(t, url, "the log says where: %s", m.errb.String())
	upload := filepath.Join(mnt, demoApp, "upload")
	require.NoError(t, os.WriteFile(filepath.Join(upload, "a.txt"), []byte("12345"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(upload, "b.txt"), []byte("1234567"), 0o644))
	code, _, stderr := runCmd("wait", mnt, "--timeout", "30s")
	require.Equal(t, 0, code, stderr)
	b, err := os.ReadFile(filepath.Join(mnt, demoApp, "by-name", "a.txt"))
	require.NoError(t, err)
	require.Equal(t, "12345", string(b))

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url[1])
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(body)
	for _, want := range []string{
		`chatfs_uploads_total{app="demo",outcome="landed"} 2`,
		`chatfs_upload_bytes_total{app="demo"} 12`,
		`chatfs_upload_queue{app="demo",state="waiting"} 0`,
		`chatfs_uploads_in_flight{app="demo"} 0`,
		`chatfs_request_duration_seconds_count{app="demo",endpoint="upload"} 2`,
		`chatfs_requests_total{app="demo",code="200",endpoint="upload"} 2`,
		`chatfs_cache_files 2`,
		`chatfs_cache_bytes 12`,
		`chatfs_cache_limit_bytes 1.073741824e+09`,
	} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, `(?m)^chatfs_cache_hits_total [1-9]`, text)
	assert.Regexp(t, `(?m)^chatfs_cache_misses_total \d`, text)
	assert.Regexp(t, `(?m)^chatfs_download_bytes_total \d`, text)
}

// TestMetricsAddressMustBeLoopback: --metrics refuses an address other
// users' machines could reach, unless --metrics-public says so.
func TestMetricsAddressMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9464", ":9464", "192.0.2.1:9464", "example.com:9464", "127.0.0.1", "127.0.0.1:http"} {
		code, _, stderr := runCmd("mount", "--metrics", addr, t.TempDir())
		assert.Equal(t, 1, code, addr)
		assert.Contains(t, stderr, "--metrics", addr)
	}
}

// TestMetricsCountSends: sends are counted apart from uploads, by outcome
// (chatfs_sends_total), and send/'s queue by state (chatfs_send_queue).
func TestMetricsCountSends(t *testing.T) {
	mnt := t.TempDir()
	m := startCLIMount(t, mnt, "--state", t.TempDir(), "--settle", "50ms", "--send-as", "support", "--max-size", "100", "--metrics", "127.0.0.1:0")
	url := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(m.errb.String())
	require.NotNil(t, url, "the log says where: %s", m.errb.String())
	send := filepath.Join(mnt, demoApp, "send")
	require.NoError(t, os.WriteFile(filepath.Join(send, "users", "alice", "a.pdf"), []byte("%PDF-1.4\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(send, "rooms", "1234", "b.pdf"), []byte("%PDF-1.4\n"), 0o644))
	require.Error(t, os.WriteFile(filepath.Join(send, "users", "bob", "big.bin"), make([]byte, 200), 0o644))
	code, _, stderr := runCmd("wait", mnt, filepath.Join(send, "users", "alice"), filepath.Join(send, "rooms"), "--timeout", "30s")
	require.Equal(t, 0, code, stderr)

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url[1])
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(body)
	for _, want := range []string{
		`chatfs_sends_total{app="demo",outcome="landed"} 2`,
		`chatfs_send_queue{app="demo",state="waiting"} 0`,
		`chatfs_send_queue{app="demo",state="uploading"} 0`,
		`chatfs_send_queue{app="demo",state="sending"} 0`,
		`chatfs_send_queue{app="demo",state="failed"} 1`,
		`chatfs_upload_queue{app="demo",state="failed"} 0`,
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, `chatfs_uploads_total{app="demo",outcome="landed"}`, "sends are not counted as uploads")
}
