package emulator

import (
	"net/http"
	"net/url"
	"strings"
)

// route is a parsed chatfiles path:
//
//	/app-id/{id}/chatfiles[/{uuid}]   (Shengwang IM)
//	/{org}/{app}/chatfiles[/{uuid}]   (Agora Chat, Easemob)
type route struct {
	app     string // the app key: "app-id/{id}" or "{org}/{app}", unescaped
	base    string // the base path as the client spelled it (escaped), e.g. "/org/app"
	org     string // set for the org/app shape
	appName string // set for the org/app shape
	item    bool   // the path names a file, not the collection
	uuid    string // the file's name, unescaped and not yet validated
}

// parseRoute parses an escaped request path. It reports false for paths
// that are not chatfiles paths at all.
func parseRoute(escaped string) (route, bool) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(segs) < 3 || segs[2] != "chatfiles" {
		return route{}, false
	}
	rt, ok := parseBase(segs)
	if !ok {
		return route{}, false
	}
	if len(segs) > 3 {
		// Everything after chatfiles/ is the uuid, slashes included, so
		// that "a/b" or "../x" is answered as a bad uuid (entity_not_found).
		rt.item = true
		u, err := url.PathUnescape(strings.Join(segs[3:], "/"))
		if err != nil {
			u = strings.Join(segs[3:], "/")
		}
		rt.uuid = u
	}
	return rt, true
}

// parseBase parses the first two segments of an escaped path, the base
// path of an app in either URL shape.
func parseBase(segs []string) (route, bool) {
	a, err1 := url.PathUnescape(segs[0])
	b, err2 := url.PathUnescape(segs[1])
	if err1 != nil || err2 != nil || a == "" || b == "" || strings.Contains(b, "/") {
		return route{}, false
	}
	rt := route{base: "/" + segs[0] + "/" + segs[1]}
	if a == "app-id" {
		rt.app = "app-id/" + b
	} else {
		if strings.Contains(a, "/") {
			return route{}, false
		}
		rt.app, rt.org, rt.appName = a+"/"+b, a, b
	}
	return rt, true
}

// normalizeAppKey turns an Options.Apps entry ("app-id/ID" or "org/app",
// leading and trailing slashes ignored) into an app key.
func normalizeAppKey(s string) (string, bool) {
	s = strings.Trim(s, "/")
	a, b, ok := strings.Cut(s, "/")
	if !ok || a == "" || b == "" || strings.Contains(b, "/") || len(s) > maxAppKey {
		return "", false
	}
	return s, true
}

// appExists reports whether app is served: every app when Options.Apps is
// unset (namespaces are made on first use), else only the listed ones.
func (s *Server) appExists(app string) bool {
	if len(app) > maxAppKey {
		return false
	}
	return s.apps == nil || s.apps[app]
}

// route dispatches a request: closed server, the token endpoint, unknown
// path, unknown app, authorization, then method, in that order.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if s.closed.Load() {
		s.writeError(w, errClosed)
		return
	}
	if app, ok := parseTokenRoute(r.URL.EscapedPath()); ok {
		s.serveToken(w, r, app)
		return
	}
	if isExportPath(r.URL.EscapedPath()) {
		s.serveExport(w, r) // presigned: no token
		return
	}
	if mr, ok := parseMessageRoute(r.URL.EscapedPath()); ok {
		s.routeMessages(w, r, mr)
		return
	}
	if lr, ok := parseLifetimeRoute(r.URL.EscapedPath()); ok {
		s.serveLifetime(w, r, lr)
		return
	}
	rt, ok := parseRoute(r.URL.EscapedPath())
	if !ok {
		s.writeError(w, errNoRoute)
		return
	}
	if !s.appExists(rt.app) {
		s.writeError(w, errNoApp(rt.app))
		return
	}
	if !s.auth(w, r, rt.app) {
		return
	}
	switch {
	case !rt.item && r.Method == http.MethodPost:
		s.upload(w, r, rt)
	case rt.item && r.Method == http.MethodGet:
		s.download(w, r, rt)
	case !rt.item:
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, errMethod(r.Method))
	default:
		w.Header().Set("Allow", http.MethodGet)
		s.writeError(w, errMethod(r.Method))
	}
}
