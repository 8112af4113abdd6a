package emulator

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
)

// multipartSlack is what a request body may hold beyond MaxSize: part
// headers, boundaries and small extra fields. Bodies past MaxSize+slack are
// cut off with 413 even when the file part itself is small.
const multipartSlack = 1 << 20

// maxThumbBox bounds the thumbnail-width and -height an upload may ask for.
const maxThumbBox = 4096

// errTooBig reports a file part longer than MaxSize.
var errTooBig = errors.New("file exceeds the size limit")

// upload handles POST {base}/chatfiles. The file part is streamed to a temp
// file with the size limit checked as bytes arrive; the body is never held
// in memory. The file is committed only once the whole multipart body has
// been read and found well formed, so a truncated body stores nothing.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, rt route) {
	r.Body = http.MaxBytesReader(w, r.Body, s.maxSize+multipartSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		s.writeError(w, errNoFile)
		return
	}
	var (
		tmp  string // temp file holding the file part, "" until received
		size int64
		name string
		head []byte
	)
	defer func() {
		if tmp != "" {
			_ = os.Remove(tmp) // no-op error after a successful commit renamed it
		}
	}()
	// fail answers a refused upload. It first reads what is left of the
	// body (at most MaxSize+slack in all, discarded): a client still sending
	// when the server hangs up may see a connection reset instead of the
	// answer, so the emulator lets it finish, as front ends of the real
	// service do.
	fail := func(err error) {
		var mbe *http.MaxBytesError
		tooLarge := errors.Is(err, errTooBig) || errors.As(err, &mbe)
		if tooLarge {
			s.tooLarge.Add(1)
		}
		var se *storeError
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case tooLarge:
			s.writeError(w, errTooLarge)
		case errors.As(err, &se):
			// The emulator's own failure (its disk full, a write error): a
			// 5xx the client retries, never the client's fault.
			s.log.Error("chatfiles: storing upload", "app", rt.app, "err", err)
			s.writeError(w, errInternal)
		default:
			s.writeError(w, errNoFile)
		}
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
			return
		}
		if part.FormName() == "file" && tmp == "" {
			name = part.FileName()
			tmp, size, head, err = s.receive(part)
		} else {
			_, err = io.Copy(io.Discard, part)
		}
		if err != nil {
			fail(err)
			return
		}
	}
	if tmp == "" || size == 0 {
		s.writeError(w, errNoFile)
		return
	}

	_, restricted := r.Header["Restrict-Access"] // present, whatever its value
	m := meta{
		Name:        name,
		Size:        size,
		ContentType: http.DetectContentType(head),
		Restricted:  restricted,
		Secret:      randomString(36),
		ThumbWidth:  thumbHeader(r, "thumbnail-width"),
		ThumbHeight: thumbHeader(r, "thumbnail-height"),
		Created:     s.now(),
	}
	uuid := newUUID()
	if err := s.st.commit(rt.app, uuid, tmp, m); err != nil {
		s.log.Error("chatfiles: storing upload", "app", rt.app, "err", err)
		s.writeError(w, errInternal)
		return
	}
	s.uploads.Add(1)
	s.mu.Lock()
	s.names[uuid] = name
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, s.uploadAnswer(r, rt, uuid, m.Secret))
}

// receive streams a file part to a new temp file, failing with errTooBig
// as soon as it passes MaxSize. It returns the temp file's path (removed on
// error), the size and the first bytes (for content sniffing).
func (s *Server) receive(part *multipart.Part) (path string, size int64, head []byte, err error) {
	f, err := s.st.tempFile()
	if err != nil {
		return "", 0, nil, &storeError{err}
	}
	hw := &headWriter{w: storeWriter{f}}
	size, err = io.Copy(hw, io.LimitReader(part, s.maxSize+1))
	if err == nil && size > s.maxSize {
		err = errTooBig
	}
	if err == nil {
		if err = f.Sync(); err != nil {
			err = &storeError{err}
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &storeError{cerr}
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", 0, nil, err
	}
	return f.Name(), size, hw.head, nil
}

// storeError is a failure of the emulator's own storage while receiving an
// upload, as opposed to a malformed or truncated request.
type storeError struct{ err error }

func (e *storeError) Error() string { return "emulator: storing upload: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// storeWriter marks the errors of writes to the emulator's disk.
type storeWriter struct{ w io.Writer }

func (s storeWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		err = &storeError{err}
	}
	return n, err
}

// headWriter passes writes to w and keeps the first 512 bytes.
type headWriter struct {
	w    io.Writer
	head []byte
}

func (h *headWriter) Write(p []byte) (int, error) {
	if n := 512 - len(h.head); n > 0 {
		h.head = append(h.head, p[:min(n, len(p))]...)
	}
	return h.w.Write(p)
}

// thumbHeader parses a thumbnail box header: a positive number of pixels,
// at most maxThumbBox; anything else means "not given" (0).
func thumbHeader(r *http.Request, name string) int {
	n, err := strconv.Atoi(r.Header.Get(name))
	if err != nil || n <= 0 || n > maxThumbBox {
		return 0
	}
	return n
}

// uploadAnswer is the service's answer to an upload. Like the real service
// it always carries a share-secret; the emulator enforces it only for files
// uploaded with restrict-access.
func (s *Server) uploadAnswer(r *http.Request, rt route, uuid, secret string) map[string]any {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	a := map[string]any{
		"action":      "post",
		"application": appUUID(rt.app),
		"path":        "/chatfiles",
		"uri":         scheme + "://" + r.Host + rt.base + "/chatfiles",
		"entities": []map[string]string{{
			"uuid":         uuid,
			"type":         "chatfile",
			"share-secret": secret,
		}},
		"timestamp": s.now().UnixMilli(),
		"duration":  0,
	}
	if rt.org != "" { // as Agora Chat and Easemob answer
		a["organization"] = rt.org
		a["applicationName"] = rt.appName
	}
	return a
}

// appUUID derives a stable uuid (version 5 style) for an app key, standing
// in for the application uuid the service reports.
func appUUID(app string) string {
	b := sha1.Sum([]byte("chatfs-emulator-app:" + app))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
