package remote_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

func TestSetLifetimeEmulator(t *testing.T) {
	for name, ep := range shapes {
		t.Run(name, func(t *testing.T) {
			e := newEmulator(t, emulator.Options{LifetimeAPI: true, TTL: time.Hour})
			c := emuClient(t, e, ep)
			res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "a.txt", File: readerAt("kept"), Size: 4})
			require.NoError(t, err)
			unknown := "00000000-0000-0000-0000-0000000000aa"
			got, err := c.SetLifetime(context.Background(), "admin", remote.LifetimeForever, []string{res.UUID, unknown})
			require.NoError(t, err)
			assert.Equal(t, map[string]bool{res.UUID: true, unknown: false}, got)
			key := "app-id/" + ep.AppID
			if ep.AppID == "" {
				key = ep.Org + "/" + ep.App
			}
			exp, err := e.srv.Expiry(key, res.UUID)
			require.NoError(t, err)
			assert.True(t, exp.IsZero())
		})
	}
}

func TestSetLifetimeNotEnabled(t *testing.T) {
	e := newEmulator(t, emulator.Options{})
	c := emuClient(t, e, shapes["app-id"])
	_, err := c.SetLifetime(context.Background(), "admin", remote.LifetimeForever, []string{testUUID})
	require.Error(t, err)
	assert.True(t, remote.IsForbiddenOp(err), "%v", err)
	assert.False(t, remote.IsRetryable(err))
}

func TestSetLifetimeRefusesBadInput(t *testing.T) {
	srv := &script{steps: []http.HandlerFunc{status(200, `{"data":{}}`)}}
	c := newClient(t, newServer(t, srv).URL)
	ctx := context.Background()
	many := make([]string, remote.MaxLifetimeIDs+1)
	for i := range many {
		many[i] = testUUID
	}
	for name, call := range map[string]func() error{
		"user with slash": func() error { _, err := c.SetLifetime(ctx, "a/../b", "forever", []string{testUUID}); return err },
		"empty user":      func() error { _, err := c.SetLifetime(ctx, "", "forever", []string{testUUID}); return err },
		"dot dot user":    func() error { _, err := c.SetLifetime(ctx, "..", "forever", []string{testUUID}); return err },
		"value":           func() error { _, err := c.SetLifetime(ctx, "admin", "always", []string{testUUID}); return err },
		"no ids":          func() error { _, err := c.SetLifetime(ctx, "admin", "forever", nil); return err },
		"101 ids":         func() error { _, err := c.SetLifetime(ctx, "admin", "forever", many); return err },
		"bad uuid":        func() error { _, err := c.SetLifetime(ctx, "admin", "forever", []string{"../x"}); return err },
	} {
		assert.Error(t, call(), name)
	}
	assert.Zero(t, srv.count(), "nothing reaches the server")
}

func TestSetLifetimeRequestAndAnswers(t *testing.T) {
	var got struct {
		method, path, ct string
		body             map[string]any
	}
	ok := func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.ct = r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got.body)
		status(200, `{"action":"put","data":{"`+testUUID+`":"success"},"timestamp":1,"duration":0}`)(w, r)
	}
	srv := &script{steps: []http.HandlerFunc{ok}}
	c := newClient(t, newServer(t, srv).URL)
	res, err := c.SetLifetime(context.Background(), "bob.smith", "refresh", []string{testUUID})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{testUUID: true}, res)
	assert.Equal(t, http.MethodPut, got.method)
	assert.Equal(t, "/app-id/"+testAppID+"/users/bob.smith/chatfiles/lifetime", got.path)
	assert.Equal(t, "application/json", got.ct)
	assert.Equal(t, map[string]any{"lifetime": "refresh", "chatfile_ids": []any{testUUID}}, got.body)
	assert.Equal(t, "Bearer "+testToken, srv.header(0).Get("Authorization"))

	for name, tc := range map[string]struct {
		steps []http.HandlerFunc
		check func(error) bool
		calls int
	}{
		"retried 503 then ok": {[]http.HandlerFunc{status(503, errorBody("service_unavailable", "")), ok}, nil, 2},
		"cut answer retried":  {[]http.HandlerFunc{truncated(`{"data":`, 100), ok}, nil, 2},
		"400 not retried": {[]http.HandlerFunc{status(400, errorBody("illegal_argument", "chatfile_ids size is too large"))},
			remote.IsInvalid, 1},
		"403 forbidden_op": {[]http.HandlerFunc{status(403, errorBody("forbidden_op", "not enabled"))}, remote.IsForbiddenOp, 1},
		"malformed answer": {[]http.HandlerFunc{status(200, `<html>`)}, func(err error) bool { return strings.Contains(err.Error(), "malformed") }, 1},
		"no data":          {[]http.HandlerFunc{status(200, `{"action":"put"}`)}, func(err error) bool { return strings.Contains(err.Error(), "no data") }, 1},
		"huge answer": {[]http.HandlerFunc{status(200, `{"data":{"x":"`+strings.Repeat("a", 300<<10)+`"}}`)},
			func(err error) bool { return strings.Contains(err.Error(), "larger") }, 1},
	} {
		t.Run(name, func(t *testing.T) {
			srv := &script{steps: tc.steps}
			c := newClient(t, newServer(t, srv).URL)
			res, err := c.SetLifetime(context.Background(), "admin", "forever", []string{testUUID})
			if tc.check == nil {
				require.NoError(t, err)
				assert.Equal(t, map[string]bool{testUUID: true}, res)
			} else {
				require.Error(t, err)
				assert.True(t, tc.check(err), "%v", err)
			}
			assert.Equal(t, tc.calls, srv.count())
		})
	}

	// An id the answer leaves out, or answers anything but "success", failed.
	srv = &script{steps: []http.HandlerFunc{status(200, `{"data":{"`+testUUID+`":"failed"}}`)}}
	c = newClient(t, newServer(t, srv).URL)
	other := "00000000-0000-0000-0000-000000000001"
	res, err = c.SetLifetime(context.Background(), "admin", "forever", []string{testUUID, other})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{testUUID: false, other: false}, res)
}
