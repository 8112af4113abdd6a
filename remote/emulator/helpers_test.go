package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testToken = "test-token-0123456789"

// t0 is the fake clock's start.
var t0 = time.Date(2024, 4, 1, 12, 0, 0, 0, time.UTC)

// env is an emulator behind a real loopback HTTP server, with a fake clock.
type env struct {
	t   *testing.T
	srv *Server
	url string
	dir string
	ms  atomic.Int64 // the fake clock, in Unix milliseconds
}

// newEnv starts an emulator. Unset Dir, Token and Logger get test values;
// the clock is always the env's fake one.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	e := &env{t: t}
	e.ms.Store(t0.UnixMilli())
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "data")
	}
	if o.Token == "" && o.Authorize == nil {
		o.Token = testToken
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Now = e.now
	s, err := New(o)
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	e.srv, e.url, e.dir = s, hs.URL, o.Dir
	return e
}

func (e *env) now() time.Time          { return time.UnixMilli(e.ms.Load()).UTC() }
func (e *env) advance(d time.Duration) { e.ms.Add(d.Milliseconds()) }

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the test token (unless hdr sets Authorization)
// and reads the whole answer.
func (e *env) do(method, path string, body io.Reader, hdr map[string]string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range hdr {
		if v == "<none>" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return answer{resp.StatusCode, resp.Header, b}
}

// multipartBody builds a multipart/form-data body with one file part.
func multipartBody(t *testing.T, field, name string, content []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, name)
	require.NoError(t, err)
	_, err = fw.Write(content)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	return &buf, mw.FormDataContentType()
}

// upload posts content as the "file" part to base/chatfiles.
func (e *env) upload(base, name string, content []byte, hdr map[string]string) answer {
	e.t.Helper()
	body, ct := multipartBody(e.t, "file", name, content)
	h := map[string]string{"Content-Type": ct}
	for k, v := range hdr {
		h[k] = v
	}
	return e.do(http.MethodPost, base+"/chatfiles", body, h)
}

// uploadAnswer is the JSON answer to an upload.
type uploadAnswer struct {
	Action   string `json:"action"`
	Path     string `json:"path"`
	URI      string `json:"uri"`
	Entities []struct {
		UUID        string `json:"uuid"`
		Type        string `json:"type"`
		ShareSecret string `json:"share-secret"`
	} `json:"entities"`
	Timestamp int64 `json:"timestamp"`
}

// put uploads content and returns its uuid and share-secret, failing the
// test unless the upload succeeds.
func (e *env) put(base string, content []byte, hdr map[string]string) (uuid, secret string) {
	e.t.Helper()
	a := e.upload(base, "file.bin", content, hdr)
	require.Equal(e.t, http.StatusOK, a.status, string(a.body))
	var ua uploadAnswer
	require.NoError(e.t, json.Unmarshal(a.body, &ua))
	require.Len(e.t, ua.Entities, 1)
	return ua.Entities[0].UUID, ua.Entities[0].ShareSecret
}

// get downloads base/chatfiles/uuid (uuid is put in the path as is).
func (e *env) get(base, uuid string, hdr map[string]string) answer {
	e.t.Helper()
	return e.do(http.MethodGet, base+"/chatfiles/"+uuid, nil, hdr)
}

// requireError checks an error answer: status and the exact body, with the
// fake clock's current time as timestamp.
func (e *env) requireError(a answer, status int, code, exception, description string) {
	e.t.Helper()
	require.Equal(e.t, status, a.status, string(a.body))
	want := fmt.Sprintf(`{"error":%q,"exception":%q,"timestamp":%d,"duration":0,"error_description":%q}`,
		code, exception, e.ms.Load(), description)
	require.JSONEq(e.t, want, string(a.body))
	require.Equal(e.t, "application/json;charset=UTF-8", a.header.Get("Content-Type"))
}

func (e *env) requireNotFound(a answer) {
	e.t.Helper()
	e.requireError(a, 404, "entity_not_found", "EntityNotFoundException", "file may not exists")
}

func (e *env) requireNoFileErr(a answer) {
	e.t.Helper()
	e.requireError(a, 400, "illegal_argument", "java.lang.IllegalArgumentException", "file must be provided.")
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// tmpFiles lists the data directory's temp files.
func (e *env) tmpFiles() []os.DirEntry {
	ents, err := os.ReadDir(filepath.Join(e.dir, "tmp"))
	require.NoError(e.t, err)
	return ents
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
