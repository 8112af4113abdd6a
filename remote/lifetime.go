package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// The lifetime API (Easemob / Shengwang IM; Agora Chat has none):
//
//	PUT {base}/users/{user}/chatfiles/lifetime
//	{"lifetime":"forever|refresh|default","chatfile_ids":[…]}  (at most 100)
//	→ 200 {…,"data":{"<uuid>":"success|failed",…}}
//
// forever keeps a file until told otherwise, refresh restarts its
// retention period, default restores the app's rule. The service answers
// 403 forbidden_op when the API is not enabled for the app.

// Lifetime values the service takes.
const (
	LifetimeForever = "forever"
	LifetimeRefresh = "refresh"
	LifetimeDefault = "default"
)

// MaxLifetimeIDs is the most chatfile ids one lifetime call may carry.
const MaxLifetimeIDs = 100

// CodeForbiddenOp is the `error` of a 403 for an operation the app may not
// use (the lifetime API not enabled; the service also uses it for a
// restricted file asked for without its share-secret).
const CodeForbiddenOp = "forbidden_op"

// maxLifetimeAnswer bounds the bytes read of a lifetime answer; 100 ids
// with their outcomes take about 5 KB.
const maxLifetimeAnswer = 256 << 10

// ValidLifetime reports whether s is a lifetime value the service takes.
func ValidLifetime(s string) bool {
	return s == LifetimeForever || s == LifetimeRefresh || s == LifetimeDefault
}

// ValidUserName reports whether s is a user name the services accept: 1 to
// 64 ASCII letters, digits, '_', '-' and '.', and not "." or "..". It is
// checked before a URL is built from s.
func ValidUserName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// IsForbiddenOp reports a 403 forbidden_op: for the lifetime call, the API
// is not enabled for the app.
func IsForbiddenOp(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusForbidden && e.Code == CodeForbiddenOp
}

// SetLifetime asks the service to apply lifetime to the files ids, on
// behalf of user, in one call (at most MaxLifetimeIDs ids, each a valid
// uuid: checked before any request). It returns, for each id, whether the
// service answered "success"; an id the answer leaves out counts as
// failed. The call goes through the client's retries (it is idempotent)
// and is paced by a limiter of its own, the service's limit being per API.
func (c *Client) SetLifetime(ctx context.Context, user, lifetime string, ids []string) (map[string]bool, error) {
	switch {
	case !ValidUserName(user):
		return nil, fmt.Errorf("remote: lifetime: %q is not a valid user name", user)
	case !ValidLifetime(lifetime):
		return nil, fmt.Errorf("remote: lifetime: %q is not forever, refresh or default", lifetime)
	case len(ids) == 0 || len(ids) > MaxLifetimeIDs:
		return nil, fmt.Errorf("remote: lifetime: %d ids (want 1 to %d)", len(ids), MaxLifetimeIDs)
	}
	for _, id := range ids {
		if !ValidUUID(id) {
			return nil, fmt.Errorf("remote: lifetime: %q is not a chatfiles uuid", id)
		}
	}
	body, err := json.Marshal(map[string]any{"lifetime": lifetime, "chatfile_ids": ids})
	if err != nil {
		return nil, err
	}
	u := c.base + "/users/" + url.PathEscape(user) + "/chatfiles/lifetime"
	var data []byte
	resp, err := c.do(ctx, call{op: "lifetime", limiter: c.lifeLimit, send: func(ctx context.Context, token string) (*http.Response, error) {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		hr, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Accept", "application/json")
		hr.Header.Set(hdrAuthorization, "Bearer "+token)
		hr.Header.Set("User-Agent", c.userAgent)
		timer := newIdleTimer(c.idle, cancel)
		defer timer.stop()
		resp, err := c.hc.Do(hr)
		if err != nil {
			return nil, err
		}
		// The answer is small: read it here, under this attempt's context,
		// so that a cut answer is retried like any other failure. One byte
		// past the bound tells an answer that is too large.
		answer := &idleBody{rc: resp.Body, ctx: ctx, cancel: cancel, timer: timer, left: -1}
		b, err := io.ReadAll(io.LimitReader(answer, maxLifetimeAnswer+1))
		answer.Close()
		if err != nil {
			return nil, timer.explain(ctx, err)
		}
		data = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if len(data) > maxLifetimeAnswer {
		return nil, fmt.Errorf("remote: lifetime: %w: answer larger than %d bytes", ErrMalformedAnswer, maxLifetimeAnswer)
	}
	var a struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("remote: lifetime: %w: %v (%q)", ErrMalformedAnswer, err, excerpt(data))
	}
	if a.Data == nil {
		return nil, fmt.Errorf("remote: lifetime: %w: no data", ErrMalformedAnswer)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = a.Data[id] == "success"
	}
	c.log.Debug("remote: lifetime set", "lifetime", lifetime, "ids", len(ids))
	return out, nil
}

// lifetimeRate is the pace of lifetime calls: the service allows 100/s.
const lifetimeRate = 90
