package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for zero Options fields.
const (
	DefaultRateLimit       = 90 // calls/s per kind; the service allows 100
	DefaultConnectTimeout  = 10 * time.Second
	DefaultHeaderTimeout   = 30 * time.Second
	DefaultIdleBodyTimeout = 30 * time.Second
	DefaultMaxConnsPerHost = 16
	DefaultUserAgent       = "chatfs"
	maxRedirects           = 10
)

// Client talks to one app of the chatfiles service. It is safe for
// concurrent use; all its fields are set by New and read only afterwards.
type Client struct {
	base      string // Endpoint.Base()
	tokens    TokenSource
	retry     RetryPolicy
	hc        *http.Client
	upLimit   *rate.Limiter // nil when disabled
	downLimit *rate.Limiter // nil when disabled
	send      sendLimits
	histLimit *rate.Limiter // the history export's own; nil when disabled
	lifeLimit *rate.Limiter // lifetime calls; nil when disabled
	idle      time.Duration
	log       *slog.Logger
	userAgent string
	observer  Observer // nil: none
}

// New checks o and returns a Client. It makes no request.
func New(o Options) (*Client, error) {
	if err := o.Endpoint.Validate(); err != nil {
		return nil, err
	}
	if o.Tokens == nil {
		return nil, errors.New("remote: no token source")
	}
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit
	}
	o.ConnectTimeout = orDefault(o.ConnectTimeout, DefaultConnectTimeout)
	o.HeaderTimeout = orDefault(o.HeaderTimeout, DefaultHeaderTimeout)
	o.IdleBodyTimeout = orDefault(o.IdleBodyTimeout, DefaultIdleBodyTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if o.Transport == nil {
		o.Transport = newTransport(o.ConnectTimeout, o.HeaderTimeout, o.MaxConnsPerHost)
	}
	c := &Client{
		base:   o.Endpoint.Base(),
		tokens: o.Tokens,
		retry:  o.Retry.withDefaults(),
		// No overall Timeout: bodies stream for as long as they move; the
		// idle body timer and the transport's timeouts bound the waits.
		hc:        &http.Client{Transport: o.Transport, CheckRedirect: checkRedirect},
		idle:      o.IdleBodyTimeout,
		log:       o.Logger,
		userAgent: o.UserAgent,
		observer:  o.Observer,
	}
	c.send = newSendLimits(o.SendLimits)
	if o.RateLimit > 0 {
		c.upLimit = newLimiter(o.RateLimit)
		c.downLimit = newLimiter(o.RateLimit)
		c.lifeLimit = newLimiter(min(o.RateLimit, lifetimeRate))
	}
	if o.HistoryPerMinute == 0 {
		o.HistoryPerMinute = DefaultHistoryPerMinute
	}
	if o.HistoryPerMinute > 0 {
		c.histLimit = newHistoryLimiter(o.HistoryPerMinute)
	}
	return c, nil
}

// Base returns the app's base URL, as Endpoint.Base gives it.
func (c *Client) Base() string { return c.base }

// Close closes the connections kept idle for reuse, so that none of their
// goroutines outlives the client's owner. Call it once the client's
// requests have ended; the client stays usable (it would dial again).
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// newLimiter allows perSecond calls a second, with a burst of one second's
// worth: the service counts calls per second, so a folder of thumbnails
// opened at once after a quiet spell goes out at once instead of trickling
// out at the sustained rate. A burst right after a busy second may meet
// the service's limit; its 429 (reach_limit) is retried with backoff.
func newLimiter(perSecond float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), max(int(perSecond), 1))
}

func newTransport(connect, header time.Duration, maxConns int) *http.Transport {
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          64,
		MaxConnsPerHost:       maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
	}
}

// Headers that carry credentials, never sent to another host.
const (
	hdrAuthorization = "Authorization"
	hdrShareSecret   = "share-secret"
)

// checkRedirect follows up to 10 redirects, and strips the token and the
// share-secret from a redirected request unless it goes to the very host
// (and port) of the original request over the same scheme. Object storage
// is typically on another host and must not see them.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("%w (last to %s)", ErrTooManyRedirects, req.URL.Host)
	}
	orig := via[0].URL
	if req.URL.Host != orig.Host || req.URL.Scheme != orig.Scheme {
		req.Header.Del(hdrAuthorization)
		req.Header.Del(hdrShareSecret)
	}
	return nil
}

// TokenFingerprint identifies the token the client would send now, without
// revealing it (a short hash), so that a caller refused with 401 can tell
// when a new token (a rewritten token file, a regenerated token) is there
// to try. It is "" when the source has no token.
func (c *Client) TokenFingerprint(ctx context.Context) string {
	tok, err := c.tokens.Token(ctx)
	if err != nil || tok == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:8])
}
