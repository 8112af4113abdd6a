package main

import (
	"context"
	"encoding/json"
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

	"github.com/chatfs/chatfs/remote/emulator"
)

// TestServeDemoAndHistoryFlags: chatfs serve --demo seeds the demo
// conversation once; --history-tz names hours in UTC+8, --history-rate
// limits GET chatmessages, --send-user-rate the sends.
func TestServeDemoAndHistoryFlags(t *testing.T) {
	data := t.TempDir()
	serve := func(args ...string) (url, out string, stop func()) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		var o, e testutil.SyncBuffer
		done := make(chan error, 1)
		go func() {
			done <- runServe(ctx, append([]string{"--data", data, "--listen", "127.0.0.1:0"}, args...), &o, &e)
		}()
		waitFor(t, 10*time.Second, "the emulator to listen", func() bool {
			m := regexp.MustCompile(`chatfiles emulator on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(o.String())
			if m != nil {
				url = m[1]
			}
			return m != nil && (!strings.Contains(strings.Join(args, " "), "--demo") || strings.Contains(o.String(), "demo conversation"))
		})
		return url, o.String(), func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err, e.String())
			case <-time.After(10 * time.Second):
				t.Error("chatfs serve did not stop")
			}
		}
	}
	url, out, stop := serve("--demo", "--history-tz", "UTC+8", "--history-rate", "2", "--send-user-rate", "1")
	assert.Contains(t, out, "demo conversation seeded into app-id/demo")
	tok, err := os.ReadFile(filepath.Join(data, "token"))
	require.NoError(t, err)
	do := func(method, path, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	// The newest demo message, in its UTC+8 hour.
	s, err := emulator.New(emulator.Options{Dir: data, Token: "t", Logger: discard()})
	require.NoError(t, err)
	recs, err := s.Messages(emulator.DemoApp)
	require.NoError(t, err)
	require.Len(t, recs, 7)
	hour := time.UnixMilli(recs[6].Timestamp).In(time.FixedZone("", 8*3600)).Format("2006010215")
	resp := do(http.MethodGet, "/app-id/demo/chatmessages/"+hour, "")
	require.Equal(t, 200, resp.StatusCode)
	var ha struct{ Data []struct{ URL string } }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ha))
	require.Len(t, ha.Data, 1)
	exp, err := http.Get(ha.Data[0].URL)
	require.NoError(t, err)
	exp.Body.Close()
	assert.Equal(t, 200, exp.StatusCode, "the presigned URL needs no token")
	assert.Equal(t, 400, do(http.MethodGet, "/app-id/demo/chatmessages/2020010100", "").StatusCode, "gone after --history-retention")
	assert.Equal(t, 429, do(http.MethodGet, "/app-id/demo/chatmessages/"+hour, "").StatusCode, "--history-rate 2")

	msg := `{"to":["bob"],"type":"txt","body":{"msg":"hi"}}`
	assert.Equal(t, 200, do(http.MethodPost, "/app-id/demo/messages/users", msg).StatusCode)
	assert.Equal(t, 429, do(http.MethodPost, "/app-id/demo/messages/users", msg).StatusCode, "--send-user-rate 1")
	stop()

	// Again on the same data: not seeded twice.
	_, out, stop = serve("--demo")
	assert.Contains(t, out, "demo conversation: already in app-id/demo")
	stop()
	recs, err = s.Messages(emulator.DemoApp)
	require.NoError(t, err)
	assert.Len(t, recs, 8, "the demo's 7 and the one sent")

	var errb testutil.SyncBuffer
	err = runServe(context.Background(), []string{"--data", data, "--history-tz", "CST"}, &errb, &errb)
	assert.ErrorContains(t, err, "--history-tz")
	err = runServe(context.Background(), []string{"--data", data, "--demo", "--app", "org/app"}, &errb, &errb)
	assert.ErrorContains(t, err, "--demo-app")
}
