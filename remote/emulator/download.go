package emulator

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/chatfs/chatfs/remote"
)

// errRange answers a Range that starts past the end of the file.
var errRange = apiError{http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable",
	"RangeNotSatisfiableException", "the requested range is not satisfiable"}

// download handles GET {base}/chatfiles/{uuid}, with `thumbnail: true` for
// the thumbnail. Checks run in the service's order: the uuid is validated
// before anything touches the disk, then existence, expiry, share-secret.
func (s *Server) download(w http.ResponseWriter, r *http.Request, rt route) {
	if !remote.ValidUUID(rt.uuid) {
		s.writeError(w, errNotFound)
		return
	}
	m, err := s.st.readMeta(rt.app, rt.uuid)
	if errors.Is(err, fs.ErrNotExist) {
		s.writeError(w, errNotFound)
		return
	}
	if err != nil {
		s.log.Error("chatfiles: reading metadata", "app", rt.app, "uuid", rt.uuid, "err", err)
		s.writeError(w, errInternal)
		return
	}
	if s.expired(m) {
		s.writeError(w, errExpired(rt.uuid))
		return
	}
	if m.Restricted && !secretMatches(r, m.Secret) {
		s.writeError(w, errForbidden)
		return
	}
	thumb := strings.EqualFold(strings.TrimSpace(r.Header.Get("thumbnail")), "true")
	path := s.st.dataPath(rt.app, rt.uuid)
	if thumb {
		path, err = s.thumbnail(rt.app, rt.uuid, m)
		if errors.Is(err, errNoThumbnail) {
			s.writeError(w, errNotFound)
			return
		}
		if err != nil {
			s.log.Error("chatfiles: making thumbnail", "app", rt.app, "uuid", rt.uuid, "err", err)
			s.writeError(w, errInternal)
			return
		}
	}
	s.serveFile(w, r, path, rt.uuid, thumb)
}

// secretMatches reports whether the request carries the file's share-secret,
// in the share-secret header or the ?share-secret= query parameter.
func secretMatches(r *http.Request, secret string) bool {
	for _, got := range []string{r.Header.Get("share-secret"), r.URL.Query().Get("share-secret")} {
		if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1 {
			return true
		}
	}
	return false
}

// serveFile answers with the bytes of path: 200 with the whole file, or 206
// with one range when the request asks for one and Options.NoRange is off.
// Multiple or malformed ranges are ignored (200), as RFC 9110 allows.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, path, uuid string, thumb bool) {
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
	}
	var info os.FileInfo
	if err == nil {
		info, err = f.Stat()
	}
	if err != nil {
		s.log.Error("chatfiles: opening stored file", "uuid", uuid, "err", err)
		s.writeError(w, errInternal)
		return
	}
	size := info.Size()
	h := w.Header()
	start, n, status := int64(0), size, http.StatusOK
	if !s.noRange {
		h.Set("Accept-Ranges", "bytes")
		if first, last, ok := parseRange(r.Header.Get("Range"), size); ok {
			if first >= size {
				h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
				s.writeError(w, errRange)
				return
			}
			start, n, status = first, last-first+1, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
		}
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	s.countDownload(uuid, thumb)
	w.WriteHeader(status)
	_, _ = io.Copy(w, io.NewSectionReader(f, start, n)) // a client gone away is not an error
}

// parseRange parses a single-range "bytes=" header against a file of size
// bytes: "N-", "N-M" or the suffix form "-K". It returns the first and last
// byte (last clamped to the file) and false when there is no usable single
// range. first >= size means unsatisfiable.
func parseRange(h string, size int64) (first, last int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" { // suffix: the last b bytes
		k, err := strconv.ParseInt(b, 10, 64)
		if err != nil || k <= 0 {
			return 0, 0, false
		}
		if size == 0 {
			return 0, 0, true // unsatisfiable
		}
		return max(size-k, 0), size - 1, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return 0, 0, false
	}
	last = size - 1
	if b != "" {
		l, err := strconv.ParseInt(b, 10, 64)
		if err != nil || l < first {
			return 0, 0, false
		}
		last = min(l, size-1)
	}
	return first, last, true
}
