package core

import (
	"context"
	"sync"
	"time"
)

// After the service refuses the app's token (401, once renewing did not
// help), every upload would be refused the same way, so uploaders stop
// claiming and wait for a new token: they look at the token source every
// authPoll (a fingerprint, never the token) and, as soon as it gives
// another token (a rewritten token file, a regenerated one), wake every
// entry that was backing off and go on. Without a new token they try again
// after maxRetryBackoff, in case the service itself was at fault.

// authPoll is how often uploaders look for a new token after a 401.
const authPoll = 2 * time.Second

// tokenFingerprinter is the optional part of Remote that tells tokens
// apart (remote.Client has it).
type tokenFingerprinter interface {
	TokenFingerprint(ctx context.Context) string
}

// authGate remembers the token the service refused.
type authGate struct {
	mu      sync.Mutex
	refused string    // fingerprint of the refused token; "" when none. GUARDED_BY(mu)
	since   time.Time // when it was refused. GUARDED_BY(mu)
}

// noteRefused records that the current token was refused.
func (o *Outbox) noteRefused(ctx context.Context) {
	tf, ok := o.app.opts.Remote.(tokenFingerprinter)
	if !ok {
		return
	}
	fp := tf.TokenFingerprint(ctx)
	if fp == "" {
		return
	}
	o.auth.mu.Lock()
	o.auth.refused, o.auth.since = fp, o.app.opts.Now()
	o.auth.mu.Unlock()
}

// authBlocked reports whether uploaders should not claim now because the
// token the service refused is still the one they would send. When a new
// token has appeared it wakes the entries that were backing off.
func (o *Outbox) authBlocked(ctx context.Context) bool {
	o.auth.mu.Lock()
	refused, since := o.auth.refused, o.auth.since
	o.auth.mu.Unlock()
	if refused == "" {
		return false
	}
	fp := o.app.opts.Remote.(tokenFingerprinter).TokenFingerprint(ctx)
	if fp == refused && o.app.opts.Now().Sub(since) < maxRetryBackoff {
		return true
	}
	o.auth.mu.Lock()
	if o.auth.refused == refused {
		o.auth.refused = ""
	}
	o.auth.mu.Unlock()
	if fp != refused {
		o.app.log.Info("upload: a new token; retrying uploads now")
		if _, err := o.app.opts.Index.Wake(o.queue); err != nil {
			o.app.log.Error("outbox: wake queue", "err", err)
		}
	}
	return false
}
