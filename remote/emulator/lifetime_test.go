package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setLifetime sends a lifetime call for user with body.
func (e *env) setLifetime(method, base, user, body string) answer {
	e.t.Helper()
	return e.do(method, base+"/users/"+user+"/chatfiles/lifetime", strings.NewReader(body),
		map[string]string{"Content-Type": "application/json"})
}

// lifetimeData decodes a 200 answer's data.
func lifetimeData(t *testing.T, a answer) map[string]string {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var v struct {
		Data map[string]string `json:"data"`
	}
	require.NoError(t, json.Unmarshal(a.body, &v))
	return v.Data
}

func idsBody(lifetime string, ids ...string) string {
	b, _ := json.Marshal(map[string]any{"lifetime": lifetime, "chatfile_ids": ids})
	return string(b)
}

func TestLifetimeOffByDefault(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/org/app", []byte("x"), nil)
	for _, m := range []string{http.MethodPut, http.MethodPost} {
		e.requireError(e.setLifetime(m, "/org/app", "admin", idsBody("forever", uuid)), 403,
			"forbidden_op", "ForbiddenOpException", "chatfile lifetime is not enabled for this app")
	}
	// Authorization still comes first.
	a := e.do(http.MethodPut, "/org/app/users/admin/chatfiles/lifetime", strings.NewReader(idsBody("forever", uuid)),
		map[string]string{"Authorization": "Bearer wrong"})
	assert.Equal(t, 401, a.status)
}

func TestLifetimeForeverRefreshDefault(t *testing.T) {
	e := newEnv(t, Options{TTL: time.Hour, LifetimeAPI: true})
	kept, _ := e.put("/org/app", []byte("kept"), nil)
	other, _ := e.put("/org/app", []byte("other"), nil)
	created := e.now()

	exp, err := e.srv.Expiry("org/app", kept)
	require.NoError(t, err)
	assert.Equal(t, created.Add(time.Hour), exp)

	// forever: alive long after its TTL; the other file expires.
	assert.Equal(t, map[string]string{kept: "success"}, lifetimeData(t, e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("forever", kept))))
	exp, err = e.srv.Expiry("org/app", kept)
	require.NoError(t, err)
	assert.True(t, exp.IsZero(), "kept forever")
	e.advance(48 * time.Hour)
	assert.Equal(t, 200, e.get("/org/app", kept, nil).status)
	assert.Equal(t, 404, e.get("/org/app", other, nil).status)
	// An expired file cannot be kept any more.
	assert.Equal(t, map[string]string{other: "failed"}, lifetimeData(t, e.setLifetime(http.MethodPost, "/org/app", "admin", idsBody("forever", other))))

	// refresh: the clock restarts now.
	assert.Equal(t, map[string]string{kept: "success"}, lifetimeData(t, e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("refresh", kept))))
	exp, err = e.srv.Expiry("org/app", kept)
	require.NoError(t, err)
	assert.Equal(t, e.now().Add(time.Hour), exp)
	e.advance(30 * time.Minute)
	assert.Equal(t, 200, e.get("/org/app", kept, nil).status)

	// default: back to upload time + TTL, long past.
	assert.Equal(t, map[string]string{kept: "success"}, lifetimeData(t, e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("default", kept))))
	exp, err = e.srv.Expiry("org/app", kept)
	require.NoError(t, err)
	assert.Equal(t, created.Add(time.Hour), exp)
	e.requireError(e.get("/org/app", kept, nil), 404, "file_expired", "FileExpiredException", "file "+kept+" is expired")
}

func TestLifetimeSurvivesRestart(t *testing.T) {
	e := newEnv(t, Options{TTL: time.Hour, LifetimeAPI: true})
	uuid, _ := e.put("/app-id/a1", []byte("kept"), nil)
	lifetimeData(t, e.setLifetime(http.MethodPut, "/app-id/a1", "admin", idsBody("forever", uuid)))
	s2, err := New(Options{Dir: e.dir, Token: testToken, TTL: time.Hour, Now: func() time.Time { return e.now().Add(1000 * time.Hour) }})
	require.NoError(t, err)
	exp, err := s2.Expiry("app-id/a1", uuid)
	require.NoError(t, err)
	assert.True(t, exp.IsZero())
}

func TestLifetimeMixedAndFailedIDs(t *testing.T) {
	e := newEnv(t, Options{LifetimeAPI: true})
	uuid, _ := e.put("/org/app", []byte("x"), nil)
	elsewhere, _ := e.put("/org/other", []byte("y"), nil)
	unknown := "00000000-0000-0000-0000-000000000001"
	got := lifetimeData(t, e.setLifetime(http.MethodPut, "/org/app", "admin",
		idsBody("forever", uuid, elsewhere, unknown, "../../etc/passwd", "NOT-A-UUID")))
	assert.Equal(t, map[string]string{uuid: "success", elsewhere: "failed", unknown: "failed",
		"../../etc/passwd": "failed", "NOT-A-UUID": "failed"}, got)
	exp, err := e.srv.Expiry("org/other", elsewhere)
	require.NoError(t, err)
	assert.False(t, exp.IsZero(), "another app's file is untouched")
}

func TestLifetimeValidation(t *testing.T) {
	e := newEnv(t, Options{LifetimeAPI: true})
	uuid, _ := e.put("/org/app", []byte("x"), nil)
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	}
	e.requireError(e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("forever", ids...)), 400,
		"illegal_argument", "IllegalArgumentException", "chatfile_ids size is too large")
	assert.Len(t, lifetimeData(t, e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("forever", ids[:100]...))), 100)
	e.requireError(e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("forever")), 400,
		"illegal_argument", "IllegalArgumentException", "chatfile_ids must be provided")
	e.requireError(e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("always", uuid)), 400,
		"illegal_argument", "IllegalArgumentException", "lifetime must be forever, refresh or default")
	e.requireError(e.setLifetime(http.MethodPut, "/org/app", "admin", `{"lifetime":`), 400,
		"invalid_request_body", "InvalidRequestBodyException", "request body is not a valid JSON object")
	e.requireError(e.setLifetime(http.MethodPut, "/org/app", "ad%20min", idsBody("forever", uuid)), 400,
		"illegal_argument", "IllegalArgumentException", "username is not legal")
	a := e.setLifetime(http.MethodGet, "/org/app", "admin", "")
	assert.Equal(t, 405, a.status)
	assert.Equal(t, "PUT, POST", a.header.Get("Allow"))
	big := `{"lifetime":"forever","chatfile_ids":["` + strings.Repeat("a", maxLifetimeRequest) + `"]}`
	assert.Equal(t, 400, e.setLifetime(http.MethodPut, "/org/app", "admin", big).status)

	// Unknown apps, when the Server lists its apps.
	l := newEnv(t, Options{LifetimeAPI: true, Apps: []string{"org/app"}})
	assert.Equal(t, 404, l.setLifetime(http.MethodPut, "/org/nope", "admin", idsBody("forever", uuid)).status)
}

func TestLifetimeRateLimit(t *testing.T) {
	e := newEnv(t, Options{LifetimeAPI: true, LifetimeRate: 3})
	uuid, _ := e.put("/org/app", []byte("x"), nil)
	for range 3 {
		lifetimeData(t, e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("refresh", uuid)))
	}
	e.requireError(e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("refresh", uuid)), 429,
		"reach_limit", "ReachLimitException", "This request has reached API limit.")
	// Per app.
	other, _ := e.put("/org/b", []byte("x"), nil)
	lifetimeData(t, e.setLifetime(http.MethodPut, "/org/b", "admin", idsBody("refresh", other)))
	e.advance(time.Second)
	lifetimeData(t, e.setLifetime(http.MethodPut, "/org/app", "admin", idsBody("refresh", uuid)))
}
