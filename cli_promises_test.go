package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatfs/chatfs/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestStatusShowsFailuresAndCache: chatfs status lists a failed upload
// with its reason and counts the download cache's bytes and files.
func TestStatusShowsFailuresAndCache(t *testing.T) {
	emuDir := t.TempDir()
	emu, err := emulator.Start(context.Background(), "127.0.0.1:0", emulator.Options{Dir: emuDir, MaxSize: 100, Logger: discard()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Stop() })
	mnt := t.TempDir()
	startCLIMount(t, mnt, "--host", emu.URL, "--app-id", demoApp, "--token-file", filepath.Join(emuDir, "token"),
		"--state", t.TempDir(), "--settle", "50ms")
	upload := filepath.Join(mnt, demoApp, "upload")
	// Within --max-size (10 MB by default) but over the server's 100 bytes: 413.
	require.NoError(t, os.WriteFile(filepath.Join(upload, "big.txt"), bytes.Repeat([]byte("x"), 1000), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(upload, "small.txt"), []byte("0123456789"), 0o644))
	waitFor(t, 15*time.Second, "small.txt to upload and big.txt to fail", func() bool {
		_, err := os.Readlink(filepath.Join(mnt, demoApp, "by-name", "small.txt"))
		state, _ := xattr(filepath.Join(upload, "big.txt"), "user.chatfs.state")
		cached, _ := xattr(mnt, "user.chatfs.cache_files") // moved into the cache just after it is recorded
		return err == nil && state == "failed" && cached == "1"
	})

	code, stdout, stderr := runCmd("status", mnt)
	require.Equal(t, 1, code, "a failed upload makes status exit 1: %s", stderr)
	assert.Contains(t, stdout, demoApp+": 0 waiting, 0 uploading, 1 failed\n")
	assert.Regexp(t, regexp.MustCompile(`(?m)^  failed: big\.txt: .*413.*\(1000 bytes, 1 attempt\)$`), stdout)
	assert.Contains(t, stdout, "download cache: 10 bytes in 1 files (limit 1.0 GiB)\n")
}

// TestServeFlags: chatfs serve honours --data (a generated token in
// DATA/token, 0600), --listen, --app, --max-size and --no-range.
func TestServeFlags(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--data", data, "--listen", "127.0.0.1:0", "--app", "app-id/only",
			"--max-size", "10", "--ttl", "1h", "--no-range"}, &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("chatfs serve did not stop")
		}
	})
	var url string
	waitFor(t, 5*time.Second, "the emulator to listen", func() bool {
		m := regexp.MustCompile(`chatfiles emulator on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	assert.Contains(t, out.String(), "token: in "+data+"/token")
	st, err := os.Stat(filepath.Join(data, "token"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	tok, err := os.ReadFile(filepath.Join(data, "token"))
	require.NoError(t, err)
	client := func(app string) *remote.Client {
		c, err := remote.New(remote.Options{
			Endpoint: remote.Endpoint{BaseURL: url, AppID: app},
			Tokens:   remote.NewStaticToken(strings.TrimSpace(string(tok))), RateLimit: -1,
			Retry: remote.RetryPolicy{MaxAttempts: 1},
		})
		require.NoError(t, err)
		return c
	}
	up := func(app, body string) (remote.UploadResult, error) {
		return client(app).Upload(context.Background(), remote.UploadRequest{Name: "f", File: strings.NewReader(body), Size: int64(len(body))})
	}
	res, err := up("only", "0123456789")
	require.NoError(t, err, "at the limit")
	_, err = up("only", "0123456789a")
	assert.True(t, remote.IsTooLarge(err), "past --max-size: %v", err)
	_, err = up("other", "x")
	assert.True(t, remote.IsAppNotFound(err), "an app not given with --app: %v", err)

	req, err := http.NewRequest(http.MethodGet, url+"/app-id/only/chatfiles/"+res.UUID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Range", "bytes=2-")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "--no-range answers the whole file")
}

// TestDocumentedFlags: every flag README.md and docs/tokens.md name exists,
// with the default they state.
func TestDocumentedFlags(t *testing.T) {
	for cmd, want := range map[string]map[string]string{
		"mount": {
			"host": "", "app-id": "", "org": "", "app": "", "token-file": "", "app-certificate-file": "",
			"token-app-id": "", "token-lifetime": "24h", "client-id": "", "client-secret-file": "",
			"restrict-access": "", "thumbnail-size": "", "max-size": "10485760", "cache-size": "", "state": "",
			"debug": "", "config": "", "settle": "1s", "allow-other": "", "allow-plain-http": "",
			"retention": "168h0m0s",
		},
		"serve": {
			"data": "", "listen": `"127.0.0.1:8080"`, "token-file": "", "max-size": "10485760", "ttl": "168h0m0s",
			"app": "", "no-range": "", "app-certificate": "", "client-id": "", "client-secret-file": "",
			"client-token-ttl": "1440h",
			"history-delay":    "1h0m0s", "history-retention": "72h0m0s", "history-live": "", "history-rate": "10",
			"history-tz": `"UTC"`, "demo": "", "send-user-rate": "100", "send-user-messages": "6000",
			"send-group-rate": "20", "send-room-rate": "20",
		},
		"token": {"config": "", "name": "", "app-certificate-file": "", "token-lifetime": "24h", "client-id": ""},
	} {
		code, _, help := runCmd(cmd, "-h")
		require.Equal(t, 0, code, cmd)
		got := helpDefaults(help)
		for name, def := range want {
			d, ok := got[name]
			if !assert.True(t, ok, "chatfs %s has no -%s", cmd, name) || def == "" {
				continue
			}
			assert.Equal(t, def, d, "default of chatfs %s -%s", cmd, name)
		}
	}
}

// helpDefaults maps each flag of a command's -h output to its stated
// default ("" when none): "(default X)" or, in the usage text, "(default X,".
func helpDefaults(help string) map[string]string {
	out := map[string]string{}
	def := regexp.MustCompile(`\(default ([^,)]+)[,)]`)
	name := ""
	for _, line := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			name = m[1]
			out[name] = ""
		}
		if name == "" {
			continue
		}
		if m := def.FindStringSubmatch(line); m != nil && out[name] == "" {
			out[name] = m[1]
		}
	}
	return out
}
