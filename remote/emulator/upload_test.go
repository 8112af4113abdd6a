package emulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatfs/chatfs/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUploadAnswer(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		base  string
		extra string // the org/app shape also names the org and app, as the service does
	}{
		{"/app-id/ID1", ""},
		{"/my-org/my-app", `,"organization":"my-org","applicationName":"my-app"`},
	} {
		a := e.upload(tc.base, "a.txt", []byte("content"), nil)
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		var raw map[string]any
		require.NoError(t, json.Unmarshal(a.body, &raw))
		ent := raw["entities"].([]any)[0].(map[string]any)
		uuid, secret := ent["uuid"].(string), ent["share-secret"].(string)
		assert.True(t, remote.ValidUUID(uuid), uuid)
		assert.Len(t, secret, 48)
		assert.Equal(t, "4", uuid[14:15], "version 4 uuid")
		want := fmt.Sprintf(`{"action":"post","application":%q,"path":"/chatfiles","uri":%q,`+
			`"entities":[{"uuid":%q,"type":"chatfile","share-secret":%q}],"timestamp":%d,"duration":0%s}`,
			appUUID(tc.base[1:]), e.url+tc.base+"/chatfiles", uuid, secret, t0.UnixMilli(), tc.extra)
		assert.JSONEq(t, want, string(a.body))
	}
	assert.Equal(t, int64(2), e.srv.Stats().Uploads)
}

func TestUploadStoresMetadata(t *testing.T) {
	e := newEnv(t, Options{})
	png := noisePNG(t, 8, 8)
	uuid, secret := e.put("/org/app", png, map[string]string{
		"restrict-access": "true", "thumbnail-width": "64", "thumbnail-height": "32"})
	m, err := e.srv.st.readMeta("org/app", uuid)
	require.NoError(t, err)
	assert.Equal(t, meta{Name: "file.bin", Size: int64(len(png)), ContentType: "image/png", Restricted: true,
		Secret: secret, ThumbWidth: 64, ThumbHeight: 32, Created: t0}, m)

	for _, p := range files(t, e.dir) {
		info, err := os.Stat(filepath.Join(e.dir, p))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), p)
	}
	info, err := os.Stat(filepath.Join(e.dir, "apps", "org%2Fapp"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
}

func TestUploadBadRequests(t *testing.T) {
	e := newEnv(t, Options{})
	post := func(body, contentType string) answer {
		return e.do(http.MethodPost, "/org/app/chatfiles", strings.NewReader(body), map[string]string{"Content-Type": contentType})
	}
	body, ct := multipartBody(t, "other", "a.txt", []byte("not the file part"))
	e.requireNoFileErr(e.do(http.MethodPost, "/org/app/chatfiles", body, map[string]string{"Content-Type": ct}))
	e.requireNoFileErr(e.upload("/org/app", "empty.txt", nil, nil))
	e.requireNoFileErr(post("", "multipart/form-data; boundary=xyz"))
	e.requireNoFileErr(post("garbage, not multipart at all", "multipart/form-data; boundary=xyz"))
	e.requireNoFileErr(post("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nno closing boundary", "multipart/form-data; boundary=xyz"))
	e.requireNoFileErr(post("x", "multipart/form-data"))
	e.requireNoFileErr(post("x", "application/octet-stream"))
	e.requireNoFileErr(post("x", ""))

	assert.Equal(t, int64(0), e.srv.Stats().Uploads)
	assert.Empty(t, e.tmpFiles())
	assert.NoDirExists(t, filepath.Join(e.dir, "apps", "org%2Fapp"))
}

func TestUploadSizeLimitBoundary(t *testing.T) {
	e := newEnv(t, Options{MaxSize: 1000})
	e.put("/org/app", bytes.Repeat([]byte("a"), 1000), nil)
	e.requireError(e.upload("/org/app", "big", bytes.Repeat([]byte("a"), 1001), nil), 413,
		"file exceeding maximum limit", "FileSizeLimitExceededException", "the file size exceeds the maximum limit.")
	assert.Empty(t, e.tmpFiles())
	assert.Equal(t, int64(1), e.srv.Stats().Uploads)
}

// TestUploadTooLargeIsStreamed sends 10 MB + 1 byte from a generator and
// holds the multipart body open after it until the server has refused the
// file: a server that buffered the body before judging it would never get
// there (the generator gives up after 20 s and the test fails).
func TestUploadTooLargeIsStreamed(t *testing.T) {
	e := newEnv(t, Options{})
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	genDone := make(chan struct{})
	var judgedEarly atomic.Bool
	go func() {
		defer close(genDone)
		defer pw.Close()
		fw, err := mw.CreateFormFile("file", "big.bin")
		if err != nil {
			return
		}
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for left := int64(defaultMaxSize + 1); left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := fw.Write(chunk[:n]); err != nil {
				return
			}
			left -= n
		}
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			if e.srv.Stats().TooLarge == 1 {
				judgedEarly.Store(true)
				break
			}
			time.Sleep(time.Millisecond)
		}
		_ = mw.Close()
	}()
	defer func() { _ = pr.Close(); <-genDone }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/org/app/chatfiles", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	e.requireError(answer{resp.StatusCode, resp.Header, b}, 413,
		"file exceeding maximum limit", "FileSizeLimitExceededException", "the file size exceeds the maximum limit.")
	<-genDone
	assert.True(t, judgedEarly.Load(), "the server judged the size only after the body ended")
	assert.Empty(t, e.tmpFiles())
	assert.Empty(t, files(t, filepath.Join(e.dir, "apps")))
	assert.Equal(t, Stats{TooLarge: 1}, e.srv.Stats())
}

func TestConcurrentUploads(t *testing.T) {
	e := newEnv(t, Options{})
	const n = 32
	type result struct {
		uuid string
		sum  [32]byte
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			content := make([]byte, 1000+i*997)
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for j := range content {
				content[j] = byte(r.Uint32())
			}
			body, ct := multipartBody(t, "file", fmt.Sprintf("f%d", i), content)
			req, _ := http.NewRequest(http.MethodPost, e.url+"/org/app/chatfiles", body)
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			var ua uploadAnswer
			if assert.Equal(t, 200, resp.StatusCode) && assert.NoError(t, json.NewDecoder(resp.Body).Decode(&ua)) {
				results[i] = result{ua.Entities[0].UUID, sha256.Sum256(content)}
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, r := range results {
		require.NotEmpty(t, r.uuid)
		require.False(t, seen[r.uuid], "duplicate uuid %s", r.uuid)
		seen[r.uuid] = true
		got := e.get("/org/app", r.uuid, nil)
		require.Equal(t, 200, got.status)
		assert.Equal(t, r.sum, sha256.Sum256(got.body))
	}
	assert.Equal(t, int64(n), e.srv.Stats().Uploads)
	assert.Empty(t, e.tmpFiles())
}

// The emulator's own failures (its disk full, a write error) are 5xx, which
// clients retry, never the 400 "file must be provided." that blames them.
func TestUploadStorageFailureIs5xx(t *testing.T) {
	e := newEnv(t, Options{})
	require.NoError(t, os.RemoveAll(e.srv.st.tmp))
	require.NoError(t, os.WriteFile(e.srv.st.tmp, nil, 0o600)) // temp files cannot be created
	a := e.upload("/org/app", "a.txt", []byte("content"), nil)
	e.requireError(a, http.StatusInternalServerError, "internal_server_error",
		"InternalServerErrorException", "internal server error")
	assert.Zero(t, e.srv.Stats().Uploads)
}
