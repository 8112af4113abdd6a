package remote

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/chatfs/chatfs/internal/backoff"
)

// Retry defaults, for zero RetryPolicy fields.
const (
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = 200 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultMaxElapsed     = 30 * time.Second
)

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	p.InitialBackoff = orDefault(p.InitialBackoff, DefaultInitialBackoff)
	p.MaxBackoff = orDefault(p.MaxBackoff, DefaultMaxBackoff)
	p.MaxElapsed = orDefault(p.MaxElapsed, DefaultMaxElapsed)
	return p
}

// backoff returns the pause before attempt n+1 after n failed attempts:
// full jitter, uniform in [0, min(MaxBackoff, InitialBackoff·2^(n-1))].
func (p RetryPolicy) backoff(n int) time.Duration {
	return backoff.Policy{Initial: p.InitialBackoff, Max: p.MaxBackoff, Jitter: backoff.Full}.Delay(n)
}

// call describes one logical request for do.
type call struct {
	op      string        // for errors and logs: "upload", "download <uuid>"
	kind    string        // for the Observer: "upload", "download", "thumbnail"
	uuid    string        // for logs; empty for uploads
	limiter *rate.Limiter // nil: no limit
	// msgs, when set, is paced too, n tokens an attempt (the recipients
	// of a message; at most its burst).
	msgs    *rate.Limiter
	n       int
	noToken bool // send no token (presigned links): none is asked for or renewed
	// send makes one attempt with token and returns the response, whatever
	// its status. It is called again for every attempt.
	send func(ctx context.Context, token string) (*http.Response, error)
}

// do runs cl.send until it gets a 2xx response, which it returns with its
// body open. Transient failures (IsRetryable) are retried with backoff
// within c.retry; a 401 makes it renew the token once and try again at
// once; anything else is returned as it is, non-2xx answers as *Error.
func (c *Client) do(ctx context.Context, cl call) (*http.Response, error) {
	start := time.Now()
	var token string
	renewed := false
	for attempt := 1; ; attempt++ {
		if cl.limiter != nil {
			if err := cl.limiter.Wait(ctx); err != nil {
				return nil, fmt.Errorf("remote: %s: %w", cl.op, ctxErr(ctx, err))
			}
		}
		if cl.msgs != nil {
			if err := cl.msgs.WaitN(ctx, min(max(cl.n, 1), cl.msgs.Burst())); err != nil {
				return nil, fmt.Errorf("remote: %s: %w", cl.op, ctxErr(ctx, err))
			}
		}
		if token == "" && !cl.noToken {
			t, err := c.tokens.Token(ctx)
			if err != nil {
				return nil, fmt.Errorf("remote: %s: %w", cl.op, err)
			}
			token = t
		}
		began := time.Now()
		resp, err := cl.send(ctx, token)
		if c.observer != nil {
			status := 0
			if err == nil {
				status = resp.StatusCode
			}
			c.observer.Attempt(cl.kind, status, time.Since(began))
		}
		if err == nil && resp.StatusCode/100 == 2 {
			return resp, nil
		}
		if err == nil {
			err = readError(cl.op, resp)
		} else {
			err = fmt.Errorf("remote: %s: %w", cl.op, err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("remote: %s: %w", cl.op, context.Cause(ctx))
		}
		if IsUnauthorized(err) && !renewed && !cl.noToken {
			renewed = true
			c.log.Info("remote: token refused, renewing", "op", cl.op, "uuid", cl.uuid)
			t, rerr := c.tokens.Renew(ctx, token)
			if rerr != nil {
				return nil, fmt.Errorf("%w (renewing the token: %w)", err, rerr)
			}
			token = t
			attempt-- // the renewed try does not count against the budget
			continue
		}
		if !IsRetryable(err) {
			return nil, err
		}
		delay := c.retry.backoff(attempt)
		if e, ok := asError(err); ok && e.RetryAfter > delay {
			delay = e.RetryAfter
		}
		if attempt >= c.retry.MaxAttempts || time.Since(start)+delay > c.retry.MaxElapsed {
			return nil, fmt.Errorf("%w (gave up after %d attempts in %v)", err, attempt, time.Since(start).Round(time.Millisecond))
		}
		c.log.Debug("remote: retrying", "op", cl.op, "uuid", cl.uuid, "status", statusOf(err),
			"attempt", attempt, "delay", delay, "err", err)
		if err := backoff.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("remote: %s: %w", cl.op, err)
		}
		if c.observer != nil {
			c.observer.Retry(cl.kind)
		}
	}
}

func statusOf(err error) int {
	if e, ok := asError(err); ok {
		return e.Status
	}
	return 0
}

// ctxErr prefers the context's cause to the limiter's own wording.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
