package emulator

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatfs/chatfs/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBothURLShapes(t *testing.T) {
	e := newEnv(t, Options{})
	for _, base := range []string{"/app-id/970CA35de60c44645bbae8a215061b33", "/easemob-demo/chatdemoui"} {
		t.Run(base, func(t *testing.T) {
			e.t = t
			content := []byte("hello " + base)
			a := e.upload(base, "hello.txt", content, nil)
			require.Equal(t, http.StatusOK, a.status, string(a.body))
			var ua uploadAnswer
			require.NoError(t, jsonUnmarshal(a.body, &ua))
			assert.Equal(t, e.url+base+"/chatfiles", ua.URI)

			got := e.get(base, ua.Entities[0].UUID, nil)
			require.Equal(t, http.StatusOK, got.status)
			assert.Equal(t, content, got.body)
		})
	}
}

func TestNamespacesAreSeparate(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/app-id/A", []byte("in A"), nil)
	e.requireNotFound(e.get("/app-id/B", uuid, nil))
	e.requireNotFound(e.get("/org/A", uuid, nil))
	e.requireNotFound(e.get("/app-id/a", uuid, nil))
	assert.Equal(t, http.StatusOK, e.get("/app-id/A", uuid, nil).status)

	uuid2, _ := e.put("/org/app", []byte("in org/app"), nil)
	e.requireNotFound(e.get("/org/app2", uuid2, nil))
	e.requireNotFound(e.get("/org2/app", uuid2, nil))
	e.requireNotFound(e.get("/app-id/app", uuid2, nil))
	assert.Equal(t, http.StatusOK, e.get("/org/app", uuid2, nil).status)
}

func TestAppsList(t *testing.T) {
	e := newEnv(t, Options{Apps: []string{"app-id/good", "/org1/app1/"}})
	e.put("/app-id/good", []byte("x"), nil)
	e.put("/org1/app1", []byte("x"), nil)

	e.requireError(e.upload("/app-id/bad", "f", []byte("x"), nil), 404,
		"organization_application_not_found", "OrganizationApplicationNotFoundException",
		"Could not find application for app-id/bad from URI: app-id/bad/chatfiles")
	e.requireError(e.get("/org1/app2", "00000000-0000-4000-8000-000000000000", nil), 404,
		"organization_application_not_found", "OrganizationApplicationNotFoundException",
		"Could not find application for org1/app2 from URI: org1/app2/chatfiles")
	// An unknown app is unknown whatever the token.
	a := e.get("/org2/app1", "00000000-0000-4000-8000-000000000000", map[string]string{"Authorization": "<none>"})
	assert.Equal(t, 404, a.status)
	assert.Contains(t, string(a.body), "organization_application_not_found")

	_, err := New(Options{Dir: t.TempDir(), Token: "t", Apps: []string{"just-one-part"}})
	require.Error(t, err)
}

func TestAuth(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/app-id/A", []byte("x"), nil)
	for name, auth := range map[string]string{
		"missing":   "<none>",
		"wrong":     "Bearer not-the-token",
		"prefix":    "Bearer " + testToken[:5],
		"basic":     "Basic " + testToken,
		"bare":      testToken,
		"empty":     "Bearer ",
		"extension": "Bearer " + testToken + "x",
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			h := map[string]string{"Authorization": auth}
			for _, a := range []answer{e.get("/app-id/A", uuid, h), e.upload("/org/app", "f", []byte("x"), h)} {
				e.requireError(a, 401, "auth_bad_access_token", "EasemobSecurityException",
					"Unable to authenticate due to corrupt access token")
			}
		})
	}
	e.t = t
	assert.Equal(t, 200, e.get("/app-id/A", uuid, map[string]string{"Authorization": "bearer " + testToken}).status)
}

func TestAuthorizeHook(t *testing.T) {
	var mu sync.Mutex
	var apps []string
	e := newEnv(t, Options{Authorize: func(app, token string) error {
		mu.Lock()
		apps = append(apps, app)
		mu.Unlock()
		switch token {
		case testToken:
			return nil
		case "expired":
			return &AuthError{Code: "unauthorized", Description: "Unable to authenticate due to expired access token"}
		}
		return errors.New("no")
	}})
	assert.Empty(t, e.srv.Token())
	e.put("/org/app", []byte("x"), nil)
	e.put("/app-id/ID", []byte("x"), nil)
	assert.Equal(t, []string{"org/app", "app-id/ID"}, apps)

	e.requireError(e.upload("/org/app", "f", []byte("x"), map[string]string{"Authorization": "Bearer expired"}),
		401, "unauthorized", "EasemobSecurityException", "Unable to authenticate due to expired access token")
	e.requireError(e.upload("/org/app", "f", []byte("x"), map[string]string{"Authorization": "Bearer other"}),
		401, "auth_bad_access_token", "EasemobSecurityException", "Unable to authenticate due to corrupt access token")
}

func TestGeneratedToken(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	s, err := New(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	tok := s.Token()
	assert.GreaterOrEqual(t, len(tok), 32)

	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	info, err = os.Stat(filepath.Join(dir, "token"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	b, err := os.ReadFile(filepath.Join(dir, "token"))
	require.NoError(t, err)
	assert.Equal(t, tok, strings.TrimSpace(string(b)))

	// A restart on the same Dir keeps the token; another Dir gets another.
	s2, err := New(Options{Dir: dir})
	require.NoError(t, err)
	assert.Equal(t, tok, s2.Token())
	s3, err := New(Options{Dir: filepath.Join(parent, "other")})
	require.NoError(t, err)
	assert.NotEqual(t, tok, s3.Token())

	// A given token is used as is, and not written.
	s4, err := New(Options{Dir: filepath.Join(parent, "given"), Token: "given"})
	require.NoError(t, err)
	assert.Equal(t, "given", s4.Token())
	assert.NoFileExists(t, filepath.Join(parent, "given", "token"))

	_, err = New(Options{})
	assert.Error(t, err)
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/org/app", []byte("x"), nil)
	for _, p := range []string{"/", "/org", "/org/app", "/org/app/users", "/app-id/X/chatfile", "//app/chatfiles", "/org//chatfiles"} {
		e.requireError(e.do(http.MethodGet, p, nil, nil), 404, "service_resource_not_found",
			"ServiceResourceNotFoundException", "Service resource not found")
	}
	a := e.do(http.MethodPut, "/org/app/chatfiles", nil, nil)
	e.requireError(a, 405, "method_not_allowed", "HttpRequestMethodNotSupportedException", "Request method 'PUT' not supported")
	assert.Equal(t, "POST", a.header.Get("Allow"))
	a = e.do(http.MethodGet, "/org/app/chatfiles", nil, nil)
	assert.Equal(t, 405, a.status)
	a = e.do(http.MethodPost, "/org/app/chatfiles/"+uuid, nil, nil)
	e.requireError(a, 405, "method_not_allowed", "HttpRequestMethodNotSupportedException", "Request method 'POST' not supported")
	assert.Equal(t, "GET", a.header.Get("Allow"))
	assert.Equal(t, 405, e.do(http.MethodDelete, "/org/app/chatfiles/"+uuid, nil, nil).status)
}

func TestClose(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/org/app", []byte("x"), nil)
	require.NoError(t, e.srv.Close())
	e.requireError(e.get("/org/app", uuid, nil), 503, "service_unavailable", "ServiceUnavailableException", "the server is closed")
}

func TestLogsOneLinePerRequestWithoutSecrets(t *testing.T) {
	var buf testutil.SyncBuffer
	e := newEnv(t, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	uuid, secret := e.put("/org/app", []byte("secret stuff"), map[string]string{"restrict-access": "true"})
	e.get("/org/app", uuid+"?share-secret="+secret, nil)
	e.get("/org/app", uuid, map[string]string{"share-secret": secret})
	e.get("/org/app", uuid, map[string]string{"Authorization": "Bearer wrong-token-value"})

	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Contains(t, lines[0], "method=POST")
	assert.Contains(t, lines[0], "path=/org/app/chatfiles")
	assert.Contains(t, lines[0], "status=200")
	assert.Contains(t, lines[1], "path=/org/app/chatfiles/"+uuid+" ")
	assert.Contains(t, lines[1], "bytes=12")
	assert.Contains(t, lines[3], "status=401")
	for _, l := range lines {
		assert.Contains(t, l, "duration=")
	}
	for _, s := range []string{testToken, secret, "wrong-token-value", "share-secret"} {
		assert.NotContains(t, out, s)
	}
}

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
		want route
	}{
		{"/app-id/ID/chatfiles", true, route{app: "app-id/ID", base: "/app-id/ID"}},
		{"/o/a/chatfiles", true, route{app: "o/a", base: "/o/a", org: "o", appName: "a"}},
		{"/o/a/chatfiles/u", true, route{app: "o/a", base: "/o/a", org: "o", appName: "a", item: true, uuid: "u"}},
		{"/o/a/chatfiles/", true, route{app: "o/a", base: "/o/a", org: "o", appName: "a", item: true}},
		{"/o/a/chatfiles/..%2fx", true, route{app: "o/a", base: "/o/a", org: "o", appName: "a", item: true, uuid: "../x"}},
		{"/o/a/chatfiles/a/b", true, route{app: "o/a", base: "/o/a", org: "o", appName: "a", item: true, uuid: "a/b"}},
		{"/o/a/chatfiles/x%zz", true, route{app: "o/a", base: "/o/a", org: "o", appName: "a", item: true, uuid: "x%zz"}},
		{"/o%2fx/a/chatfiles", false, route{}},
		{"/o/a%2fx/chatfiles", false, route{}},
		{"/app-id/a%2f../chatfiles", false, route{}},
		{"/o/a%zz/chatfiles", false, route{}},
		{"/o/a/files", false, route{}},
		{"/chatfiles", false, route{}},
	} {
		got, ok := parseRoute(tc.path)
		assert.Equal(t, tc.ok, ok, tc.path)
		assert.Equal(t, tc.want, got, tc.path)
	}
}

func TestAppDirName(t *testing.T) {
	assert.Equal(t, "app-id%2FX_1", appDirName("app-id/X_1"))
	assert.Equal(t, "o%2F%2E%2E", appDirName("o/.."))
	assert.Equal(t, "%2E%2E%2F%2E%2E", appDirName("../.."))
	assert.NotEqual(t, appDirName("a/b%2Fc"), appDirName("a/b/c"))
}
