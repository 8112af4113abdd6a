package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/chatfs/chatfs/remote"
)

// The lifetime API, off unless Options.LifetimeAPI:
//
//	PUT|POST {base}/users/{user}/chatfiles/lifetime
//	{"lifetime":"forever|refresh|default","chatfile_ids":[≤ 100 uuids]}
//	→ 200 {"action":"put",…,"data":{"<uuid>":"success|failed"}}
//
// forever makes a file never expire, refresh restarts its retention period
// from now, default restores the rule (its upload time plus the TTL). An id
// that is not a file of the app, or one already expired, is "failed". Calls
// are limited per app (Options.LifetimeRate, 100/s by default) and answer
// 429 reach_limit beyond.

// defaultLifetimeRate is the service's limit of lifetime calls per app.
const defaultLifetimeRate = 100

// maxLifetimeRequest bounds a lifetime request's body: 100 ids take 4 KB.
const maxLifetimeRequest = 64 << 10

// Answers of the lifetime API.
var (
	errLifetimeOff = apiError{http.StatusForbidden, "forbidden_op",
		"ForbiddenOpException", "chatfile lifetime is not enabled for this app"}
	errLifetimeTooMany = apiError{http.StatusBadRequest, "illegal_argument",
		"IllegalArgumentException", "chatfile_ids size is too large"}
	errLifetimeNoIDs = apiError{http.StatusBadRequest, "illegal_argument",
		"IllegalArgumentException", "chatfile_ids must be provided"}
	errLifetimeValue = apiError{http.StatusBadRequest, "illegal_argument",
		"IllegalArgumentException", "lifetime must be forever, refresh or default"}
	errLifetimeUser = apiError{http.StatusBadRequest, "illegal_argument",
		"IllegalArgumentException", "username is not legal"}
	errLifetimeBody = apiError{http.StatusBadRequest, "invalid_request_body",
		"InvalidRequestBodyException", "request body is not a valid JSON object"}
)

// lifetimes is the Server's state of the lifetime API.
type lifetimes struct {
	// read only after New
	on   bool    // Options.LifetimeAPI
	rate float64 // calls/s per app

	mu     sync.Mutex               // also serializes the metadata rewrites of applyLifetime
	limits map[string]*rate.Limiter // per app key. GUARDED_BY(mu)
}

func newLifetimes(o Options) lifetimes {
	r := o.LifetimeRate
	if r <= 0 {
		r = defaultLifetimeRate
	}
	return lifetimes{on: o.LifetimeAPI, rate: r, limits: make(map[string]*rate.Limiter)}
}

// lifetimeRoute is a parsed lifetime path.
type lifetimeRoute struct {
	app  string // the app key
	user string // unescaped
}

// parseLifetimeRoute recognizes /{a}/{b}/users/{user}/chatfiles/lifetime.
func parseLifetimeRoute(escaped string) (lifetimeRoute, bool) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(segs) != 6 || segs[2] != "users" || segs[4] != "chatfiles" || segs[5] != "lifetime" {
		return lifetimeRoute{}, false
	}
	a, err1 := url.PathUnescape(segs[0])
	b, err2 := url.PathUnescape(segs[1])
	user, err3 := url.PathUnescape(segs[3])
	if err1 != nil || err2 != nil || err3 != nil || a == "" || b == "" || strings.Contains(a, "/") || strings.Contains(b, "/") {
		return lifetimeRoute{}, false
	}
	return lifetimeRoute{app: a + "/" + b, user: user}, true
}

// lifetimeRequest is the body of a lifetime call.
type lifetimeRequest struct {
	Lifetime string   `json:"lifetime"`
	IDs      []string `json:"chatfile_ids"`
}

// serveLifetime answers a lifetime call: app, authorization, method,
// whether the API is on, the rate limit, then the body.
func (s *Server) serveLifetime(w http.ResponseWriter, r *http.Request, rt lifetimeRoute) {
	if !s.appExists(rt.app) {
		s.writeError(w, errNoApp(rt.app))
		return
	}
	if !s.auth(w, r, rt.app) {
		return
	}
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		w.Header().Set("Allow", "PUT, POST")
		s.writeError(w, errMethod(r.Method))
		return
	}
	if !s.life.on {
		s.writeError(w, errLifetimeOff)
		return
	}
	if !s.lifetimeLimiter(rt.app).AllowN(s.now(), 1) {
		s.writeError(w, errReachLimit)
		return
	}
	var req lifetimeRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLifetimeRequest+1))
	if err != nil || len(body) > maxLifetimeRequest || json.Unmarshal(body, &req) != nil {
		s.writeError(w, errLifetimeBody)
		return
	}
	switch {
	case !remote.ValidUserName(rt.user):
		s.writeError(w, errLifetimeUser)
		return
	case len(req.IDs) > remote.MaxLifetimeIDs:
		s.writeError(w, errLifetimeTooMany)
		return
	case len(req.IDs) == 0:
		s.writeError(w, errLifetimeNoIDs)
		return
	case !remote.ValidLifetime(req.Lifetime):
		s.writeError(w, errLifetimeValue)
		return
	}
	data := make(map[string]string, len(req.IDs))
	for _, id := range req.IDs {
		data[id] = "failed"
		if s.applyLifetime(rt.app, id, req.Lifetime) {
			data[id] = "success"
		}
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"action":      strings.ToLower(r.Method),
		"application": appUUID(rt.app),
		"path":        "/users/" + rt.user + "/chatfiles/lifetime",
		"uri":         "/users/" + rt.user + "/chatfiles/lifetime",
		"data":        data,
		"timestamp":   s.now().UnixMilli(),
		"duration":    0,
	})
}

// lifetimeLimiter returns app's limiter of lifetime calls.
func (s *Server) lifetimeLimiter(app string) *rate.Limiter {
	s.life.mu.Lock()
	defer s.life.mu.Unlock()
	l, ok := s.life.limits[app]
	if !ok {
		l = rate.NewLimiter(rate.Limit(s.life.rate), max(int(s.life.rate), 1))
		s.life.limits[app] = l
	}
	return l
}

// applyLifetime sets the lifetime of app's file id and reports whether it
// could: the file exists and has not expired.
func (s *Server) applyLifetime(app, id, lifetime string) bool {
	if !remote.ValidUUID(id) {
		return false
	}
	s.life.mu.Lock()
	defer s.life.mu.Unlock()
	m, err := s.st.readMeta(app, id)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("chatfiles: reading metadata", "app", app, "uuid", id, "err", err)
		}
		return false
	}
	if s.expired(m) {
		return false
	}
	switch lifetime {
	case remote.LifetimeForever:
		m.Forever, m.Refreshed = true, time.Time{}
	case remote.LifetimeRefresh:
		m.Forever, m.Refreshed = false, s.now()
	default:
		m.Forever, m.Refreshed = false, time.Time{}
	}
	b, err := json.Marshal(m)
	if err == nil {
		err = s.st.writeAtomic(s.st.metaPath(app, id), b)
	}
	if err != nil {
		s.log.Error("chatfiles: writing metadata", "app", app, "uuid", id, "err", err)
		return false
	}
	return true
}

// expiresAt is when a file expires under the Server's TTL: its upload
// time, or its last refresh, plus the TTL; zero for a file kept forever.
func (s *Server) expiresAt(m meta) time.Time {
	if m.Forever {
		return time.Time{}
	}
	start := m.Created
	if m.Refreshed.After(start) {
		start = m.Refreshed
	}
	return start.Add(s.ttl)
}

// expired reports whether a file has passed its lifetime.
func (s *Server) expired(m meta) bool {
	at := s.expiresAt(m)
	return !at.IsZero() && s.now().After(at)
}

// Expiry returns when app's file uuid expires (zero when it is kept
// forever), for tests and status pages. app is an app key ("app-id/ID" or
// "org/app").
func (s *Server) Expiry(app, uuid string) (time.Time, error) {
	if !remote.ValidUUID(uuid) {
		return time.Time{}, fs.ErrNotExist
	}
	m, err := s.st.readMeta(app, uuid)
	if err != nil {
		return time.Time{}, err
	}
	return s.expiresAt(m), nil
}
