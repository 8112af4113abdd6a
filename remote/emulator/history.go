package emulator

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The history export, GET {base}/chatmessages/{yyyyMMddHH}:
//
//	200 {"action":"get","uri":…,"data":[{"url":"<presigned>"}],…}   the hour has messages
//	404 storage_object_not_found                                       the hour is available and empty
//	400 illegal_argument "illegal arguments: appkey: K, time: T"       not yyyyMMddHH
//	400 illegal_argument "…, maybe chat message history is expired or unstored"
//	                                                                   not made yet, or past retention
//	429 reach_limit                                                    over HistoryRate calls a minute
//
// The presigned URL is served by the Server itself at
// /_history/{app dir}/{UTC yyyyMMddHH}.gz?Expires=…&OSSAccessKeyId=…&Signature=…
// with no token, as an object store would: the gzip of one JSON record
// per line, made from the stored records when asked for. Errors there are
// object-store XML answers: 403 SignatureDoesNotMatch, 403 AccessDenied
// (expired, or no signature), 400 InvalidArgument (an Authorization header
// beside the signature), 404 NoSuchKey.

// exportPrefix starts the path of export files. No service route has a
// third segment ending in .gz, so the two never meet.
const exportPrefix = "_history"

// exportAccessKey is the OSSAccessKeyId presigned URLs carry.
const exportAccessKey = "chatfs-emulator"

// Bounds of the export cache: a file larger than maxCachedExport is made
// afresh for each download; the cache holds at most maxExportCache bytes.
const (
	maxCachedExport = 8 << 20
	maxExportCache  = 32 << 20
)

// history handles GET {base}/chatmessages/{hour}.
func (s *Server) history(w http.ResponseWriter, r *http.Request, mr messageRoute) {
	now := s.now()
	if !s.limits.allow(mr.app, "history", s.hist.rate, time.Minute, now, 1) {
		s.writeError(w, errReachLimit)
		return
	}
	desc := "illegal arguments: appkey: " + appKeyName(mr.route) + ", time: " + truncate(mr.hour, 64)
	start, ok := s.parseHour(mr.hour)
	if !ok {
		s.writeError(w, errIllegal(desc))
		return
	}
	if !s.hourAvailable(start, now) {
		s.writeError(w, errIllegal(desc+", maybe chat message history is expired or unstored"))
		return
	}
	has, err := s.msgs.hasHour(appDirName(mr.app), start)
	if err != nil {
		s.log.Error("chatfiles: reading message history", "app", mr.app, "err", err)
		s.writeError(w, errInternal)
		return
	}
	if !has {
		s.writeError(w, apiError{http.StatusNotFound, "storage_object_not_found", "StorageObjectNotFoundException",
			"Failed to find chat message history download url for appkey: " + appKeyName(mr.route) + ", time: " + mr.hour})
		return
	}
	a := s.answer(r, mr.route, "get", "/chatmessages/"+mr.hour)
	a["data"] = []map[string]string{{"url": s.presign(r, mr.app, start, now)}}
	s.historyServed.Add(1)
	s.writeJSON(w, http.StatusOK, a)
}

func errIllegal(desc string) apiError {
	return apiError{http.StatusBadRequest, "illegal_argument", "java.lang.IllegalArgumentException", desc}
}

// appKeyName is the app as the service names it in history errors:
// "org#app", or the app id.
func appKeyName(rt route) string {
	if rt.org != "" {
		return rt.org + "#" + rt.appName
	}
	return strings.TrimPrefix(rt.app, "app-id/")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// parseHour parses yyyyMMddHH in the history zone into the hour's start.
func (s *Server) parseHour(h string) (time.Time, bool) {
	if len(h) != len(hourLayout) {
		return time.Time{}, false
	}
	for i := 0; i < len(h); i++ {
		if h[i] < '0' || h[i] > '9' {
			return time.Time{}, false
		}
	}
	t, err := time.ParseInLocation(hourLayout, h, s.hist.tz)
	return t, err == nil
}

// hourAvailable reports whether the export of the hour starting at start
// exists at now: from its end plus the delay (from its start with
// HistoryLive) until its end plus the retention.
func (s *Server) hourAvailable(start, now time.Time) bool {
	end := start.Add(time.Hour)
	if !now.Before(end.Add(s.hist.retention)) {
		return false
	}
	if s.hist.live {
		return !now.Before(start)
	}
	return !now.Before(end.Add(s.hist.delay))
}

// presign makes the export URL of the UTC hour starting at start, valid
// for HistoryURLTTL from now, on the host the request came to.
func (s *Server) presign(r *http.Request, app string, start, now time.Time) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := "/" + exportPrefix + "/" + appDirName(app) + "/" + start.UTC().Format(hourLayout) + ".gz"
	expires := strconv.FormatInt(now.Add(s.hist.urlTTL).Unix(), 10)
	u := url.URL{Scheme: scheme, Host: r.Host, Path: path}
	q := url.Values{"Expires": {expires}, "OSSAccessKeyId": {exportAccessKey}, "Signature": {s.sign(path, expires)}}
	return u.String() + "?" + q.Encode()
}

// sign is the signature of a GET of path (unescaped) until expires.
func (s *Server) sign(path, expires string) string {
	m := hmac.New(sha256.New, s.hist.secret)
	m.Write([]byte("GET\n" + path + "\n" + expires))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// isExportPath recognizes /_history/{app dir}/{hour}.gz.
func isExportPath(escaped string) bool {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	return len(segs) == 3 && segs[0] == exportPrefix && strings.HasSuffix(segs[2], ".gz")
}

// serveExport serves an export file at its presigned URL. The signature is
// checked before anything touches the disk.
func (s *Server) serveExport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		storageError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	if r.Header.Get("Authorization") != "" {
		storageError(w, http.StatusBadRequest, "InvalidArgument",
			"Only one auth mechanism allowed; only the Signature query parameter or the Authorization header should be specified")
		return
	}
	q := r.URL.Query()
	exp, sig := q.Get("Expires"), q.Get("Signature")
	if exp == "" || sig == "" || q.Get("OSSAccessKeyId") == "" {
		storageError(w, http.StatusForbidden, "AccessDenied", "AccessDenied: anonymous access is forbidden for this operation.")
		return
	}
	if !hmac.Equal([]byte(sig), []byte(s.sign(r.URL.Path, exp))) {
		storageError(w, http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided.")
		return
	}
	expires, err := strconv.ParseInt(exp, 10, 64)
	now := s.now()
	if err != nil || now.Unix() > expires {
		storageError(w, http.StatusForbidden, "AccessDenied", "Request has expired.")
		return
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var start time.Time
	if len(segs) == 3 {
		start, err = time.Parse(hourLayout, strings.TrimSuffix(segs[2], ".gz"))
	}
	if len(segs) != 3 || err != nil || !validAppDir(segs[1]) || !now.Before(start.Add(time.Hour+s.hist.retention)) {
		storageError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	gz, mod, err := s.exportFile(segs[1], start)
	if errors.Is(err, fs.ErrNotExist) {
		storageError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	if err != nil {
		s.log.Error("chatfiles: making history export", "err", err)
		storageError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	}
	s.exportsServed.Add(1)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", mod, bytes.NewReader(gz))
}

// validAppDir reports whether a path segment can be an app dir name as
// appDirName makes them (so it can never climb out of Dir/messages).
func validAppDir(d string) bool {
	if d == "" || len(d) > 3*maxAppKey {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '%') {
			return false
		}
	}
	return true
}

// storageError writes an object store's XML error answer.
func storageError(w http.ResponseWriter, status int, code, msg string) {
	body := fmt.Sprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>%s</Code>\n  <Message>%s</Message>\n  <RequestId>%s</RequestId>\n</Error>\n",
		code, msg, strings.ToUpper(randomHex(12)))
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func randomHex(n int) string {
	return fmt.Sprintf("%x", []byte(randomString(n))[:n])
}

// exportCache keeps recently made export files, keyed by hour file and
// invalidated when the file changes (a live hour, a late PostMessage).
type exportCache struct {
	mu sync.Mutex
	// GUARDED_BY(mu)
	entries map[string]exportEntry
	order   []string // insertion order, for eviction
	bytes   int
}

type exportEntry struct {
	size int64
	mod  time.Time
	gz   []byte
}

// exportFile returns the gzip of the UTC hour starting at start of the app
// stored under adir, and the hour file's modification time. Only the
// compressed bytes are held in memory.
func (s *Server) exportFile(adir string, start time.Time) ([]byte, time.Time, error) {
	path := s.msgs.hourPathDir(adir, start)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	c := &s.exports
	c.mu.Lock()
	e, ok := c.entries[path]
	c.mu.Unlock()
	if ok && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		return e.gz, e.mod, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	err = s.msgs.eachLineDir(adir, start, func(line []byte) error {
		if _, err := zw.Write(line); err != nil {
			return err
		}
		_, err := zw.Write([]byte{'\n'})
		return err
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	e = exportEntry{size: fi.Size(), mod: fi.ModTime(), gz: buf.Bytes()}
	if len(e.gz) <= maxCachedExport {
		c.put(path, e)
	}
	return e.gz, e.mod, nil
}

// put caches e under path, evicting the oldest entries past the bound.
func (c *exportCache) put(path string, e exportEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]exportEntry)
	}
	if old, ok := c.entries[path]; ok {
		c.bytes -= len(old.gz)
	} else {
		c.order = append(c.order, path)
	}
	c.entries[path] = e
	c.bytes += len(e.gz)
	for c.bytes > maxExportCache && len(c.order) > 0 {
		p := c.order[0]
		c.order = c.order[1:]
		c.bytes -= len(c.entries[p].gz)
		delete(c.entries, p)
	}
}

// ParseHistoryTZ parses the zone history hours are named in: "UTC"
// (international clusters) or "UTC+8" (China clusters).
func ParseHistoryTZ(s string) (*time.Location, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "UTC", "UTC+0", "":
		return time.UTC, nil
	case "UTC+8", "UTC+08", "UTC+08:00":
		return time.FixedZone("UTC+8", 8*3600), nil
	}
	return nil, fmt.Errorf("history time zone %q: want UTC or UTC+8", s)
}
