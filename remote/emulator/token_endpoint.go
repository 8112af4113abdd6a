package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The token endpoint, POST {base}/token, hands out app tokens for the
// client_credentials grant of Easemob and Agora Chat:
//
//	request  {"grant_type":"client_credentials","client_id":…,"client_secret":…[,"ttl":seconds]}
//	answer   {"access_token":…,"expires_in":seconds,"application":uuid}
//
// Issued tokens are opaque, kept in memory (a restart forgets them, and
// clients ask again after the 401), valid for the app they were issued
// for only, and expire per the Server's clock.

// defaultClientTokenTTL is Easemob's default token lifetime, 60 days.
const defaultClientTokenTTL = 5184000 * time.Second

// maxTokenRequest bounds the body of a token request.
const maxTokenRequest = 16 << 10

// Answers of the token endpoint. Easemob answers 400 to wrong credentials.
var (
	errBadGrant = apiError{http.StatusBadRequest, "unsupported_grant_type",
		"UnsupportedGrantTypeException", "grant_type must be client_credentials"}
	errBadClient = apiError{http.StatusBadRequest, "invalid_grant",
		"InvalidGrantException", "client_id or client_secret does not match"}
	errBadRequest = apiError{http.StatusBadRequest, "json_parse",
		"JsonParseException", "the request body is not a JSON object"}
)

// parseTokenRoute recognizes /app-id/{id}/token and /{org}/{app}/token and
// returns the app key.
func parseTokenRoute(escaped string) (string, bool) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(segs) != 3 || segs[2] != "token" {
		return "", false
	}
	a, err1 := url.PathUnescape(segs[0])
	b, err2 := url.PathUnescape(segs[1])
	if err1 != nil || err2 != nil || a == "" || b == "" || strings.Contains(a, "/") || strings.Contains(b, "/") {
		return "", false
	}
	return a + "/" + b, true
}

// tokenRequest is the body of a token request.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	TTL          int64  `json:"ttl"` // seconds; 0 or absent: the default
}

// serveToken answers POST {base}/token. The request body is never logged.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, app string) {
	if !s.appExists(app) {
		s.writeError(w, errNoApp(app))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, errMethod(r.Method))
		return
	}
	var req tokenRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequest+1))
	if err != nil || len(body) > maxTokenRequest || json.Unmarshal(body, &req) != nil {
		s.writeError(w, errBadRequest)
		return
	}
	if req.GrantType != "client_credentials" {
		s.writeError(w, errBadGrant)
		return
	}
	s.authMu.Lock()
	id, secret, ttl := s.clientID, s.clientSecret, s.clientTTL
	s.authMu.Unlock()
	idOK := subtle.ConstantTimeCompare([]byte(req.ClientID), []byte(id))
	secretOK := subtle.ConstantTimeCompare([]byte(req.ClientSecret), []byte(secret))
	if id == "" || idOK&secretOK != 1 {
		s.writeError(w, errBadClient)
		return
	}
	if req.TTL > 0 && req.TTL < int64(ttl/time.Second) {
		ttl = time.Duration(req.TTL) * time.Second
	}
	tok := s.issue(app, ttl)
	s.writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int64(ttl / time.Second),
		"application":  appUUID(app),
	})
}

// issue makes a token for app valid for ttl from now, and forgets expired
// ones.
func (s *Server) issue(app string, ttl time.Duration) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics on failure)
	tok := "YWMt" + base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	s.authMu.Lock()
	defer s.authMu.Unlock()
	for k, it := range s.issued {
		if !now.Before(it.expires) {
			delete(s.issued, k)
		}
	}
	s.issued[tok] = issued{app: app, expires: now.Add(ttl)}
	s.tokensIssued.Add(1)
	return tok
}
