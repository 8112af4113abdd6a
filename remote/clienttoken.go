package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/chatfs/chatfs/internal/backoff"
	"github.com/chatfs/chatfs/internal/smallfile"

	"github.com/chatfs/chatfs/accesstoken"
)

// Defaults of ClientCredentialsOptions.
const (
	DefaultTokenRenewInterval = time.Minute
	DefaultTokenFailBackoff   = 10 * time.Second
	DefaultTokenTimeout       = 30 * time.Second
	maxSecretFile             = 4 << 10
	maxTokenAnswer            = 64 << 10
	tokenAttempts             = 3
)

// tokenBackoff is the pause between token requests that failed transiently:
// 200ms, then 400ms.
var tokenBackoff = backoff.Policy{Initial: 200 * time.Millisecond}

// ClientCredentialsOptions configure NewClientCredentials.
type ClientCredentialsOptions struct {
	// Endpoint is the app; tokens are asked for at Endpoint.Base()+"/token".
	Endpoint Endpoint
	ClientID string
	// SecretFile names a file holding the client secret (surrounding white
	// space ignored). It is read by NewClientCredentials and again before
	// every token request, so a rotated secret is picked up. Exactly one of
	// SecretFile and Secret is set.
	SecretFile string
	// Secret is the client secret itself (from the environment, say).
	Secret string
	// RenewInterval is the least time between two token requests forced by
	// Renew for the token Renew itself fetched; default one minute.
	RenewInterval time.Duration
	// FailBackoff is the least time between a failed token request and the
	// next one; in between, the last token is used while it has not
	// expired, else the failure is returned. Default 10s.
	FailBackoff time.Duration
	// Timeout bounds one token request (all its attempts); default 30s.
	Timeout   time.Duration
	Transport http.RoundTripper // default: a transport like the Client's
	Now       func() time.Time  // replaces time.Now (tests)
	Logger    *slog.Logger      // token events; never the token or the secret
	UserAgent string
}

// ClientCredentials is a TokenSource for Easemob and Agora Chat org/app
// deployments: it asks POST {base}/token for an app token with the
// client_credentials grant, caches it, and asks again once half of its
// expires_in has passed, or after a 401 (at most once per RenewInterval
// for the same refused token). It is safe for concurrent use; concurrent
// callers share one request, made on a context of its own so that one
// interrupted caller does not fail the others.
//
// A refusal of the credentials themselves (Easemob answers 400, others
// 401 or 403) is returned as an *Error with Status 401, so IsUnauthorized
// reports it and the mount answers EACCES.
type ClientCredentials struct {
	// read only after NewClientCredentials
	url        string
	clientID   string
	secretFile string
	interval   time.Duration
	failWait   time.Duration
	timeout    time.Duration
	hc         *http.Client
	now        func() time.Time
	log        *slog.Logger
	userAgent  string
	secret     string // Options.Secret; empty when read from secretFile

	mu sync.Mutex
	// GUARDED_BY(mu)
	tok       string
	obtained  time.Time     // when the request that got tok was sent
	life      time.Duration // tok's expires_in
	renewed   string        // the token last fetched by Renew
	renewedAt time.Time
	failErr   error // the last request's failure, until a request succeeds
	failedAt  time.Time
	inflight  string // flight's key of the request in progress, "" when none
	requests  uint64 // requests started; numbers their keys

	// flight shares one token request among the callers waiting for it;
	// each may leave on its own context. Joined under mu (see fetchUnlock).
	flight singleflight.Group
}

// NewClientCredentials checks o and reads the secret file; it makes no
// request. It warns (through o.Logger) when the secret file is group or
// world readable.
func NewClientCredentials(o ClientCredentialsOptions) (*ClientCredentials, error) {
	if err := o.Endpoint.Validate(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(o.ClientID) == "" {
		return nil, errors.New("remote: client credentials: empty client id")
	}
	c := &ClientCredentials{
		url:        o.Endpoint.Base() + "/token",
		clientID:   strings.TrimSpace(o.ClientID),
		secretFile: o.SecretFile,
		interval:   orDefault(o.RenewInterval, DefaultTokenRenewInterval),
		failWait:   orDefault(o.FailBackoff, DefaultTokenFailBackoff),
		timeout:    orDefault(o.Timeout, DefaultTokenTimeout),
		now:        o.Now,
		log:        o.Logger,
		userAgent:  o.UserAgent,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	tr := o.Transport
	if tr == nil {
		tr = newTransport(DefaultConnectTimeout, DefaultHeaderTimeout, DefaultMaxConnsPerHost)
	}
	// A token request is never redirected: the secret is in its body.
	c.hc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	switch {
	case (o.Secret == "") == (o.SecretFile == ""):
		return nil, errors.New("remote: client credentials: set exactly one of Secret and SecretFile")
	case o.Secret != "":
		c.secret = strings.TrimSpace(o.Secret)
	default:
		warn, err := accesstoken.CheckSecretFile(o.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("remote: client secret file: %w", err)
		}
		if warn != "" {
			c.log.Warn(warn)
		}
		if _, err := readSecretFile(o.SecretFile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// String, GoString and LogValue show the token URL and client id only.
func (c *ClientCredentials) String() string {
	return "remote.ClientCredentials(" + c.url + ", " + c.clientID + ")"
}

// GoString implements fmt.GoStringer like String.
func (c *ClientCredentials) GoString() string { return c.String() }

// LogValue implements slog.LogValuer like String.
func (c *ClientCredentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Token returns the cached token until half its lifetime has passed, then
// asks for a new one.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	now := c.now()
	if c.freshLocked(now) {
		defer c.mu.Unlock()
		return c.tok, nil
	}
	return c.fetchUnlock(ctx, now, false, "half-life")
}

// Renew is called after the server refused bad. When bad is no longer the
// current token it returns the current one; otherwise it asks for a new
// token, unless bad was itself fetched by Renew less than RenewInterval
// ago (accesstoken.ErrRenewTooSoon).
func (c *ClientCredentials) Renew(ctx context.Context, bad string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	now := c.now()
	if bad != c.tok && c.tok != "" && now.Before(c.obtained.Add(c.life)) && !now.Before(c.obtained) {
		defer c.mu.Unlock()
		return c.tok, nil
	}
	if c.inflight == "" && c.tok != "" && c.tok == c.renewed {
		if since := now.Sub(c.renewedAt); since >= 0 && since < c.interval {
			c.mu.Unlock()
			c.log.Warn("app token refused right after renewal; not asking for another yet",
				"token_url", c.url, "retry_after", (c.interval - since).Round(time.Second))
			return "", fmt.Errorf("remote: %w; check the client id and secret", accesstoken.ErrRenewTooSoon)
		}
	}
	return c.fetchUnlock(ctx, now, true, "refused by server")
}

// freshLocked reports whether tok may be handed out at now. LOCKS_REQUIRED(c.mu)
func (c *ClientCredentials) freshLocked(now time.Time) bool {
	return c.tok != "" && !now.Before(c.obtained) && now.Sub(c.obtained) < c.life/2
}

// fetchUnlock joins the request in progress or starts one, releases c.mu,
// and waits for the result or ctx. After a recent failure it makes no
// request: it returns the last token while it is valid, else the failure.
// LOCKS_REQUIRED(c.mu); returns with c.mu released.
func (c *ClientCredentials) fetchUnlock(ctx context.Context, now time.Time, forced bool, reason string) (string, error) {
	key := c.inflight
	if key == "" {
		wait := c.failWait
		if IsUnauthorized(c.failErr) { // refused credentials: ask as seldom as a renewal
			wait = max(wait, c.interval)
		}
		if c.failErr != nil && now.Sub(c.failedAt) >= 0 && now.Sub(c.failedAt) < wait {
			defer c.mu.Unlock()
			if !forced && c.tok != "" && now.Before(c.obtained.Add(c.life)) {
				return c.tok, nil
			}
			return "", c.failErr
		}
		c.requests++
		key = strconv.FormatUint(c.requests, 10)
		c.inflight = key
	}
	// Under mu: run clears inflight, under mu, before its call leaves the
	// group, so key names a call still in the group, or a new one. Every
	// request has its own key, so no caller joins a call that has ended.
	done := c.flight.DoChan(key, func() (any, error) { return c.run(now, forced, reason) })
	c.mu.Unlock()
	select {
	case r := <-done:
		tok, _ := r.Val.(string)
		return tok, r.Err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// run reads the secret, makes the request and records its result.
func (c *ClientCredentials) run(sent time.Time, forced bool, reason string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	secret, err := c.secret, error(nil)
	if c.secretFile != "" {
		secret, err = readSecretFile(c.secretFile)
	}
	var tok string
	var life time.Duration
	if err == nil {
		tok, life, err = c.request(ctx, secret)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight = ""
	if err != nil {
		c.failErr, c.failedAt = err, c.now()
		c.log.Warn("could not get an app token", "token_url", c.url, "reason", reason, "err", err)
		return "", err
	}
	c.failErr = nil
	c.tok, c.obtained, c.life = tok, sent, life
	if forced {
		c.renewed, c.renewedAt = tok, sent
	}
	c.log.Info("got app token", "token_url", c.url, "reason", reason,
		"expires", sent.Add(life).UTC().Format(time.RFC3339))
	return tok, nil
}

// request asks for a token, retrying transient failures a few times.
func (c *ClientCredentials) request(ctx context.Context, secret string) (string, time.Duration, error) {
	body, err := json.Marshal(map[string]string{
		"grant_type": "client_credentials", "client_id": c.clientID, "client_secret": secret,
	})
	if err != nil {
		return "", 0, err
	}
	for attempt := 1; ; attempt++ {
		tok, life, err := c.once(ctx, body)
		if err == nil || !IsRetryable(err) || attempt >= tokenAttempts {
			return tok, life, err
		}
		if err := backoff.Sleep(ctx, tokenBackoff.Delay(attempt)); err != nil {
			return "", 0, fmt.Errorf("remote: token: %w", err)
		}
	}
}

// tokenAnswer is the token endpoint's answer.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Application string `json:"application"`
}

// once makes one token request.
func (c *ClientCredentials) once(ctx context.Context, body []byte) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return "", 0, fmt.Errorf("remote: token: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("remote: token: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		e := readError("token", resp)
		switch e.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			e.Op = "token (client id or secret refused)"
			e.Status = http.StatusUnauthorized
		}
		return "", 0, e
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer+1))
	if err != nil {
		return "", 0, fmt.Errorf("remote: token: %w", err)
	}
	var a tokenAnswer
	if len(data) > maxTokenAnswer || json.Unmarshal(data, &a) != nil {
		return "", 0, fmt.Errorf("remote: token: %w: not a token answer", ErrMalformedAnswer)
	}
	a.AccessToken = strings.TrimSpace(a.AccessToken)
	if a.AccessToken == "" || a.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("remote: token: %w: no access_token or expires_in", ErrMalformedAnswer)
	}
	life := time.Duration(min(a.ExpiresIn, int64(100*365*24*3600))) * time.Second
	return a.AccessToken, life, nil
}

// readSecretFile reads a client secret: white space around it is ignored.
// Errors never include the file's content.
func readSecretFile(path string) (string, error) {
	data, _, err := smallfile.Read(path, maxSecretFile)
	if err != nil {
		return "", fmt.Errorf("remote: client secret file: %w", err)
	}
	secret := string(bytes.TrimSpace(data))
	if secret == "" {
		return "", fmt.Errorf("remote: client secret file %s is empty", path)
	}
	return secret, nil
}
