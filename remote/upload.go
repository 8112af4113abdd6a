package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxUploadAnswer bounds the bytes read of an upload answer; a 2xx answer
// any larger is refused as malformed.
const maxUploadAnswer = 1 << 20

// ErrShortFile is returned (wrapped) when UploadRequest.File holds fewer
// than Size bytes. It is permanent.
var ErrShortFile = errors.New("remote: file shorter than its announced size")

// URL returns the file's URL as chat messages carry it: URI + "/" + UUID.
func (r UploadResult) URL() string {
	return strings.TrimRight(r.URI, "/") + "/" + r.UUID
}

// Upload sends one file and returns the server's uuid and share-secret.
// The body is streamed from req.File (never held in memory) with an exact
// Content-Length; on a retry it is read again from offset 0. Retries follow
// the client's RetryPolicy; an upload whose answer was lost may thus be
// stored twice by the server, which has no way to deduplicate.
func (c *Client) Upload(ctx context.Context, req UploadRequest) (UploadResult, error) {
	if req.File == nil || req.Size < 0 {
		return UploadResult{}, errors.New("remote: upload: no file or negative size")
	}
	form, err := newForm(req.Name)
	if err != nil {
		return UploadResult{}, err
	}
	url := c.base + "/chatfiles"
	resp, err := c.do(ctx, call{op: "upload", kind: "upload", limiter: c.upLimit, send: func(ctx context.Context, token string) (*http.Response, error) {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		body := &idleReader{
			r:     io.MultiReader(bytes.NewReader(form.head), &sizedReader{r: io.NewSectionReader(req.File, 0, req.Size), left: req.Size}, bytes.NewReader(form.tail)),
			timer: newIdleTimer(c.idle, cancel),
		}
		defer body.timer.stop()
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
		if err != nil {
			return nil, err
		}
		hr.ContentLength = int64(len(form.head)) + req.Size + int64(len(form.tail))
		hr.Header.Set("Content-Type", form.contentType)
		hr.Header.Set(hdrAuthorization, "Bearer "+token)
		hr.Header.Set("Accept", "application/json")
		hr.Header.Set("User-Agent", c.userAgent)
		if req.Restrict {
			// Some servers restrict whatever the value: send it only when meant.
			hr.Header.Set("restrict-access", "true")
		}
		if req.ThumbWidth > 0 {
			hr.Header.Set("thumbnail-width", strconv.Itoa(req.ThumbWidth))
		}
		if req.ThumbHeight > 0 {
			hr.Header.Set("thumbnail-height", strconv.Itoa(req.ThumbHeight))
		}
		resp, err := c.hc.Do(hr)
		if err != nil {
			return nil, body.timer.explain(ctx, err)
		}
		// The answer is small: read it here, under this attempt's context,
		// so that a truncated answer is retried like any other failure.
		answer := &idleBody{rc: resp.Body, ctx: ctx, cancel: cancel, timer: body.timer, left: -1}
		// One byte past the bound tells an answer that is too large.
		data, err := io.ReadAll(io.LimitReader(answer, maxUploadAnswer+1))
		answer.Close()
		if err != nil {
			return nil, body.timer.explain(ctx, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(data))
		return resp, nil
	}})
	if err != nil {
		return UploadResult{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(data) > maxUploadAnswer {
		return UploadResult{}, fmt.Errorf("remote: upload: %w: answer larger than %d bytes", ErrMalformedAnswer, maxUploadAnswer)
	}
	res, err := parseUploadAnswer(data)
	if err != nil {
		return UploadResult{}, err
	}
	res.Restricted = req.Restrict
	c.log.Debug("remote: uploaded", "uuid", res.UUID, "size", req.Size, "restricted", req.Restrict)
	return res, nil
}

// form is the multipart framing around the file's bytes.
type form struct {
	head, tail  []byte
	contentType string
}

// newForm lays out a form-data body with one part named "file" carrying
// name, using multipart.Writer so that the boundary and the quoting of the
// name are standard. Only the framing is built; the file's bytes go between
// head and tail.
func newForm(name string) (form, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; `+filenameParams(name))
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if _, err := mw.CreatePart(h); err != nil {
		return form{}, fmt.Errorf("remote: upload: %w", err)
	}
	head := bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		return form{}, fmt.Errorf("remote: upload: %w", err)
	}
	return form{head: head, tail: bytes.Clone(buf.Bytes()), contentType: mw.FormDataContentType()}, nil
}

// filenameParams is the filename parameter(s) of a part carrying name.
//
// A name that is UTF-8 without control characters — nearly every name —
// goes as browsers send it: filename="…", raw UTF-8 with " and \
// backslash-escaped, which every server reads. Any other name (a control
// character, which has no place in a header and made servers answer a
// misleading 400, or bytes that are not UTF-8) also goes exactly, percent-
// encoded in filename*=UTF-8”… (RFC 5987, as RFC 2231 extends
// Content-Disposition), with filename="…" an ASCII-safe stand-in (each
// such byte '_') for servers that do not read filename*. Percent-encoding
// carries bytes, so a name that is not UTF-8 comes out byte for byte.
func filenameParams(name string) string {
	plain := `filename="` + quoteEscaper.Replace(name) + `"`
	if utf8.ValidString(name) && strings.IndexFunc(name, isControl) < 0 {
		return plain
	}
	safe := []byte(name)
	for i, c := range safe {
		if c < 0x20 || c >= 0x7f {
			safe[i] = '_'
		}
	}
	var ext strings.Builder
	for i := 0; i < len(name); i++ {
		if c := name[i]; isAttrChar(c) {
			ext.WriteByte(c)
		} else {
			fmt.Fprintf(&ext, "%%%02X", c)
		}
	}
	return `filename="` + quoteEscaper.Replace(string(safe)) + `"; filename*=UTF-8''` + ext.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// isAttrChar reports the bytes RFC 5987 lets stand for themselves in an
// ext-value (attr-char).
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// sizedReader reads the local file. It fails with ErrShortFile when r ends
// before left bytes, and marks its errors as local ones, which retrying the
// request would not cure (the transport wraps them in a *net.OpError).
type sizedReader struct {
	r    io.Reader
	left int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.left -= int64(n)
	switch {
	case err == io.EOF && s.left > 0:
		err = &localError{fmt.Errorf("%w (%d bytes missing)", ErrShortFile, s.left)}
	case err != nil && err != io.EOF:
		err = &localError{fmt.Errorf("remote: reading the file to upload: %w", err)}
	}
	return n, err
}

// localError is a failure of the local side of a request, not retryable.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// uploadAnswer is the 200 answer to an upload.
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

func parseUploadAnswer(data []byte) (UploadResult, error) {
	var a uploadAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return UploadResult{}, fmt.Errorf("remote: upload: %w: %v (%q)", ErrMalformedAnswer, err, excerpt(data))
	}
	if len(a.Entities) == 0 {
		return UploadResult{}, fmt.Errorf("remote: upload: %w: no entities", ErrMalformedAnswer)
	}
	e := a.Entities[0]
	if !ValidUUID(e.UUID) {
		return UploadResult{}, fmt.Errorf("remote: upload: %w: bad uuid %q", ErrMalformedAnswer, excerpt([]byte(e.UUID)))
	}
	if err := checkShareSecret(e.ShareSecret); err != nil {
		return UploadResult{}, fmt.Errorf("remote: upload: %w: %v", ErrMalformedAnswer, err)
	}
	res := UploadResult{UUID: e.UUID, ShareSecret: e.ShareSecret, URI: a.URI, Timestamp: time.Now()}
	if a.Timestamp > 0 {
		res.Timestamp = time.UnixMilli(a.Timestamp)
	}
	return res, nil
}

// maxShareSecret bounds the length of a share-secret accepted from the
// server; the service's are a few dozen bytes.
const maxShareSecret = 256

// checkShareSecret refuses a share-secret that could not travel in a
// header or that would carry control characters into the index, xattrs
// and logs: only printable ASCII without spaces, at most maxShareSecret
// bytes. The secret itself is never quoted in the error.
func checkShareSecret(s string) error {
	if len(s) > maxShareSecret {
		return fmt.Errorf("share-secret of %d bytes (at most %d)", len(s), maxShareSecret)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("share-secret holds byte 0x%02x at %d", s[i], i)
		}
	}
	return nil
}
