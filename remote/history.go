package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// The message history export (GET {base}/chatmessages/{yyyyMMddHH}): the
// service answers with presigned links to gzip files of one JSON record per
// line. Its limit is 10 calls a minute per app, kept by a limiter of its
// own that uploads and downloads never wait on.

// Defaults of the history call.
const (
	DefaultHistoryPerMinute = 10
	// DefaultHistoryMaxBytes bounds the uncompressed bytes read of one
	// hour's export: a gzip bomb stops there.
	DefaultHistoryMaxBytes = 512 << 20
	// MaxHistoryLine bounds one record (messages are at most 5 KB of body
	// and ext; a line far longer is not a message).
	MaxHistoryLine = 1 << 20
	maxHistoryURLs = 1000         // links in one answer
	maxAnswer      = 4 << 20      // bytes of a JSON answer read
	hourLayout     = "2006010215" // yyyyMMddHH
	codeNoHistory  = "storage_object_not_found"
	descNotStored  = "maybe chat message history is expired or unstored"
	historyOp      = "history"
	historyFetchOp = "history file"
)

// HourKey is the name of the hour that holds t, as the history export
// names it: yyyyMMddHH in loc (UTC on international clusters, UTC+8 on
// China's).
func HourKey(t time.Time, loc *time.Location) string { return t.In(loc).Format(hourLayout) }

// IsNoHistory reports that the service has no messages for the hour
// (404 storage_object_not_found): the hour is done, with nothing in it.
func IsNoHistory(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusNotFound && e.Code == codeNoHistory
}

// IsHistoryNotStored reports the 400 illegal_argument the service gives for
// an hour whose export is not made yet or is no longer kept ("…, maybe chat
// message history is expired or unstored"). Only the description tells it
// from a badly formed hour (IsInvalid, permanent): this is the one
// predicate that reads it.
func IsHistoryNotStored(err error) bool {
	e, ok := asError(err)
	return ok && e.Status == http.StatusBadRequest && e.Code == CodeIllegalArgument &&
		strings.Contains(e.Description, descNotStored)
}

// History asks for the export of one hour (a HourKey) and returns its
// presigned links. Errors: IsNoHistory, IsHistoryNotStored, IsInvalid (a
// bad hour), and the usual ones; 429 reach_limit and network failures are
// retried. Every attempt waits on the history limiter.
func (c *Client) History(ctx context.Context, hour string) ([]string, error) {
	if _, err := time.Parse(hourLayout, hour); err != nil || len(hour) != len(hourLayout) {
		return nil, fmt.Errorf("remote: history: %q is not an hour (yyyyMMddHH)", clip(hour))
	}
	op := historyOp + " " + hour
	u := c.base + "/chatmessages/" + hour
	resp, err := c.do(ctx, call{op: op, limiter: c.histLimit, send: func(ctx context.Context, token string) (*http.Response, error) {
		hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		hr.Header.Set("Accept", "application/json")
		hr.Header.Set(hdrAuthorization, "Bearer "+token)
		hr.Header.Set("User-Agent", c.userAgent)
		return c.hc.Do(hr)
	}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("remote: %s: %w", op, err)
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("remote: %s: %w: answer larger than %d bytes", op, ErrMalformedAnswer, maxAnswer)
	}
	var ans struct {
		Data []struct {
			URL string `json:"url"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("remote: %s: %w: %v", op, ErrMalformedAnswer, err)
	}
	if len(ans.Data) > maxHistoryURLs {
		return nil, fmt.Errorf("remote: %s: %w: %d links", op, ErrMalformedAnswer, len(ans.Data))
	}
	urls := make([]string, 0, len(ans.Data))
	for _, d := range ans.Data {
		p, err := url.Parse(d.URL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("remote: %s: %w: a link that is not an http(s) URL", op, ErrMalformedAnswer)
		}
		urls = append(urls, d.URL)
	}
	return urls, nil
}

// OpenHistoryFile opens one presigned link History gave: a plain GET with
// no token or share-secret. The body is the gzip file as served; the
// caller closes it. An expired link is an error satisfying IsForbidden
// (the usual answer of object storage) or IsNotExist; ask History again.
func (c *Client) OpenHistoryFile(ctx context.Context, link string) (io.ReadCloser, error) {
	p, err := url.Parse(link)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, fmt.Errorf("remote: %s: not an http(s) URL", historyFetchOp)
	}
	op := historyFetchOp + " on " + p.Host
	var body *idleBody
	_, err = c.do(ctx, call{op: op, noToken: true, send: func(ctx context.Context, _ string) (*http.Response, error) {
		rctx, cancel := context.WithCancelCause(ctx)
		hr, err := http.NewRequestWithContext(rctx, http.MethodGet, link, nil)
		if err != nil {
			cancel(nil)
			return nil, errors.New("bad URL") // not err: it quotes the signature
		}
		hr.Header.Set("User-Agent", c.userAgent)
		resp, err := c.hc.Do(hr)
		if err != nil {
			cancel(nil)
			if ue, ok := errors.AsType[*url.Error](err); ok {
				err = ue.Err // a *url.Error quotes the presigned URL
			}
			return nil, err
		}
		b := &idleBody{rc: resp.Body, ctx: rctx, cancel: cancel, timer: newIdleTimer(c.idle, cancel), left: -1}
		if resp.StatusCode/100 == 2 {
			b.left = resp.ContentLength
			body = b
		}
		resp.Body = b
		return resp, nil
	}})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// historyPaceMargin widens the spacing of history calls: paced at exactly
// the service's limit, the call after a full minute of calls reaches a
// sliding-window counter a few milliseconds early whenever its latency is
// lower than that of the call a minute before, and is refused (429).
const historyPaceMargin = 0.05

// newHistoryLimiter allows perMinute calls a minute, one at a time, each
// 5% later than the limit strictly needs (historyPaceMargin).
func newHistoryLimiter(perMinute float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perMinute/60/(1+historyPaceMargin)), 1)
}

// FetchHistory reads one hour's whole export: History, then every link
// it gave, parsed by ParseHistory with at most maxBytes uncompressed bytes
// for the hour (<= 0: DefaultHistoryMaxBytes). When a link is refused as
// expired (a presigned link lives about 30 minutes; object storage answers
// 403, or 404/400), History is asked once more and every link read again.
// It returns everything or an error: never part of an hour.
func (c *Client) FetchHistory(ctx context.Context, hour string, maxBytes int64) (HistoryFile, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultHistoryMaxBytes
	}
	var err error
	for try := 0; try < 2; try++ {
		var links []string
		if links, err = c.History(ctx, hour); err != nil {
			return HistoryFile{}, err
		}
		var all HistoryFile
		left := maxBytes
		expired := false
		for _, link := range links {
			var f HistoryFile
			f, err = c.readHistoryFile(ctx, link, left)
			if err != nil {
				e, ok := asError(err)
				expired = ok && (e.Status == http.StatusForbidden || e.Status == http.StatusNotFound || e.Status == http.StatusBadRequest)
				break
			}
			all.Attachments = append(all.Attachments, f.Attachments...)
			all.Records += f.Records
			all.Skipped += f.Skipped
			left -= f.bytes
		}
		if err == nil {
			return all, nil
		}
		if !expired {
			return HistoryFile{}, err
		}
		c.log.Info("remote: a history link was refused (expired?): asking for new links", "hour", hour, "err", err)
	}
	return HistoryFile{}, fmt.Errorf("%w (after asking for new links)", err)
}

func (c *Client) readHistoryFile(ctx context.Context, link string, maxBytes int64) (HistoryFile, error) {
	if maxBytes <= 0 {
		return HistoryFile{}, fmt.Errorf("%w: more than the bytes allowed for an hour", ErrHistoryTooLarge)
	}
	body, err := c.OpenHistoryFile(ctx, link)
	if err != nil {
		return HistoryFile{}, err
	}
	defer body.Close()
	return ParseHistory(body, maxBytes)
}
