package remote

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Download opens the file (or its thumbnail) named by req.UUID. The uuid is
// checked before any request. When req.Offset > 0 a Range is asked for: if
// the server honours it (206 with a Content-Range starting at Offset) the
// result's Offset is req.Offset and Body starts there; if it ignores it
// (200) the result's Offset is 0 and Body starts at the file's first byte.
//
// Redirects (to object storage) are followed; the token and share-secret are
// only sent to the original host. Failures before the body starts are
// retried; Body itself is not: it fails with io.ErrUnexpectedEOF when it
// ends early and with ErrIdleTimeout when no byte arrives for
// Options.IdleBodyTimeout, and the caller may resume with a new Offset.
// The caller must close Body.
func (c *Client) Download(ctx context.Context, req DownloadRequest) (*Download, error) {
	if !ValidUUID(req.UUID) {
		return nil, fmt.Errorf("remote: download: %q is not a chatfiles uuid", req.UUID)
	}
	if req.Offset < 0 {
		return nil, fmt.Errorf("remote: download %s: negative offset", req.UUID)
	}
	kind := "download"
	if req.Thumbnail {
		kind = "thumbnail"
	}
	op := kind + " " + req.UUID
	url := c.base + "/chatfiles/" + req.UUID
	var body *idleBody
	resp, err := c.do(ctx, call{op: op, kind: kind, uuid: req.UUID, limiter: c.downLimit, send: func(ctx context.Context, token string) (*http.Response, error) {
		// This context outlives the call when the answer is a success: it
		// belongs to the body, which cancels it on Close.
		rctx, cancel := context.WithCancelCause(ctx)
		hr, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		if err != nil {
			cancel(nil)
			return nil, err
		}
		hr.Header.Set("Accept", "application/octet-stream")
		hr.Header.Set(hdrAuthorization, "Bearer "+token)
		hr.Header.Set("User-Agent", c.userAgent)
		if req.ShareSecret != "" {
			hr.Header.Set(hdrShareSecret, req.ShareSecret)
		}
		if req.Thumbnail {
			hr.Header.Set("thumbnail", "true")
		}
		if req.Offset > 0 {
			hr.Header.Set("Range", "bytes="+strconv.FormatInt(req.Offset, 10)+"-")
		}
		resp, err := c.hc.Do(hr)
		if err != nil {
			cancel(nil)
			return nil, err
		}
		b := &idleBody{rc: resp.Body, ctx: rctx, cancel: cancel, timer: newIdleTimer(c.idle, cancel), left: -1}
		resp.Body = b
		if resp.StatusCode/100 == 2 {
			body = b
		}
		return resp, nil
	}})
	if err != nil {
		return nil, err
	}
	d := &Download{Body: body, Size: -1, ContentType: resp.Header.Get("Content-Type")}
	switch {
	case resp.StatusCode == http.StatusPartialContent && req.Offset > 0:
		start, end, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != req.Offset {
			body.Close()
			return nil, fmt.Errorf("remote: %s: %w: asked for bytes %d-, got Content-Range %q",
				op, ErrMalformedAnswer, req.Offset, resp.Header.Get("Content-Range"))
		}
		d.Offset, d.Size = start, total
		body.left = end - start + 1
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNonAuthoritativeInfo:
		d.Size = resp.ContentLength
		body.left = resp.ContentLength
	default:
		body.Close()
		return nil, fmt.Errorf("remote: %s: %w: unexpected status %d", op, ErrMalformedAnswer, resp.StatusCode)
	}
	c.log.Debug("remote: downloading", "uuid", req.UUID, "thumbnail", req.Thumbnail,
		"offset", d.Offset, "size", d.Size, "status", resp.StatusCode)
	return d, nil
}

// parseContentRange reads "bytes START-END/TOTAL"; total is -1 for "*".
func parseContentRange(v string) (start, end, total int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", v)
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	s, e, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if start, err = strconv.ParseInt(s, 10, 64); err != nil || start < 0 {
		return 0, 0, 0, bad
	}
	if end, err = strconv.ParseInt(e, 10, 64); err != nil || end < start {
		return 0, 0, 0, bad
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= end {
			return 0, 0, 0, bad
		}
	}
	return start, end, total, nil
}
