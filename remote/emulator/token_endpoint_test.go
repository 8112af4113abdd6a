package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testClientID     = "YXA6client-id"
	testClientSecret = "YXA6client-secret-0123456789"
)

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Application string `json:"application"`
}

// askToken posts a token request and returns the answer.
func (e *env) askToken(base, body string) answer {
	e.t.Helper()
	return e.do(http.MethodPost, base+"/token", strings.NewReader(body),
		map[string]string{"Content-Type": "application/json", "Authorization": "<none>"})
}

func credentials(id, secret string, ttl int) string {
	b, _ := json.Marshal(map[string]any{"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "ttl": ttl})
	return string(b)
}

func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t, Options{ClientID: testClientID, ClientSecret: testClientSecret, ClientTokenTTL: time.Hour})
	a := e.askToken("/acme/chat", credentials(testClientID, testClientSecret, 0))
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var ta tokenAnswer
	require.NoError(t, json.Unmarshal(a.body, &ta))
	assert.Equal(t, int64(3600), ta.ExpiresIn)
	assert.Equal(t, appUUID("acme/chat"), ta.Application)
	assert.NotContains(t, string(a.body), testClientSecret)

	e.put("/acme/chat", []byte("x"), bearer(ta.AccessToken))
	// Only for the app it was issued for.
	e.requireCorrupt(e.upload("/acme/other", "f", []byte("x"), bearer(ta.AccessToken)))
	// Expiry by the emulator's clock.
	e.advance(time.Hour)
	e.requireExpired(e.upload("/acme/chat", "f", []byte("x"), bearer(ta.AccessToken)))

	// A shorter ttl asked for is honoured; a longer one is capped.
	a = e.askToken("/app-id/demo", credentials(testClientID, testClientSecret, 60))
	require.NoError(t, json.Unmarshal(a.body, &ta))
	assert.Equal(t, int64(60), ta.ExpiresIn)
	a = e.askToken("/app-id/demo", credentials(testClientID, testClientSecret, 1<<40))
	require.NoError(t, json.Unmarshal(a.body, &ta))
	assert.Equal(t, int64(3600), ta.ExpiresIn)
	assert.Equal(t, int64(3), e.srv.Stats().Tokens)
}

func TestTokenEndpointRefusals(t *testing.T) {
	e := newEnv(t, Options{ClientID: testClientID, ClientSecret: testClientSecret, Apps: []string{"acme/chat"}})
	badClient := func(a answer) {
		e.requireError(a, 400, "invalid_grant", "InvalidGrantException", "client_id or client_secret does not match")
	}
	badClient(e.askToken("/acme/chat", credentials(testClientID, "wrong", 0)))
	badClient(e.askToken("/acme/chat", credentials("wrong", testClientSecret, 0)))
	badClient(e.askToken("/acme/chat", credentials("", "", 0)))
	e.requireError(e.askToken("/acme/chat", `{"grant_type":"password"}`), 400, "unsupported_grant_type",
		"UnsupportedGrantTypeException", "grant_type must be client_credentials")
	e.requireError(e.askToken("/acme/chat", `not json`), 400, "json_parse", "JsonParseException",
		"the request body is not a JSON object")
	e.requireError(e.askToken("/acme/chat", `{"x":"`+strings.Repeat("a", maxTokenRequest)+`"}`), 400, "json_parse",
		"JsonParseException", "the request body is not a JSON object")
	a := e.askToken("/acme/nope", credentials(testClientID, testClientSecret, 0))
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Contains(t, string(a.body), "organization_application_not_found")
	a = e.do(http.MethodGet, "/acme/chat/token", nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, a.status)
	assert.Equal(t, int64(0), e.srv.Stats().Tokens)

	// Without configured credentials nothing is issued.
	plain := newEnv(t, Options{})
	badClient = func(a answer) {
		plain.requireError(a, 400, "invalid_grant", "InvalidGrantException", "client_id or client_secret does not match")
	}
	badClient(plain.askToken("/acme/chat", credentials("", "", 0)))
}

func TestClientCredentialsOptionsChecked(t *testing.T) {
	_, err := New(Options{Dir: t.TempDir(), ClientID: "only-id"})
	require.Error(t, err)
}

func TestParseTokenRoute(t *testing.T) {
	for path, want := range map[string]string{
		"/acme/chat/token":     "acme/chat",
		"/app-id/abc/token":    "app-id/abc",
		"/a%20b/c/token":       "a b/c",
		"/acme/chat/token/x":   "",
		"/acme/token":          "",
		"/acme/chat/chatfiles": "",
		"/a%2Fb/c/token":       "",
	} {
		got, ok := parseTokenRoute(path)
		assert.Equal(t, want != "", ok, path)
		assert.Equal(t, want, got, path)
	}
}

// TestTokenEndpointDefaultsAndRestart: without ClientTokenTTL, issued tokens
// live 60 days (Easemob's default) by the emulator's clock; a restart
// forgets them.
func TestTokenEndpointDefaultsAndRestart(t *testing.T) {
	e := newEnv(t, Options{ClientID: testClientID, ClientSecret: testClientSecret})
	a := e.askToken("/acme/chat", credentials(testClientID, testClientSecret, 0))
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var ta tokenAnswer
	require.NoError(t, json.Unmarshal(a.body, &ta))
	assert.Equal(t, int64(60*24*3600), ta.ExpiresIn)
	e.advance(60*24*time.Hour - time.Second)
	e.put("/acme/chat", []byte("x"), bearer(ta.AccessToken))
	e.advance(time.Second)
	e.requireExpired(e.upload("/acme/chat", "f", []byte("x"), bearer(ta.AccessToken)))

	a = e.askToken("/acme/chat", credentials(testClientID, testClientSecret, 0))
	require.NoError(t, json.Unmarshal(a.body, &ta))
	e.put("/acme/chat", []byte("x"), bearer(ta.AccessToken))
	require.NoError(t, e.srv.Close())
	again := newEnv(t, Options{Dir: e.dir, ClientID: testClientID, ClientSecret: testClientSecret})
	a = again.upload("/acme/chat", "f", []byte("x"), bearer(ta.AccessToken))
	assert.Equal(t, http.StatusUnauthorized, a.status, "forgotten across a restart: %s", a.body)
}
