package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// Keeping a file past its expiry: `setfattr -n user.chatfs.lifetime -v
// forever|refresh|default files/<uuid>` asks the service's lifetime API to
// keep the file forever, restart its retention period, or restore the
// app's rule, then records the new expiry (user.chatfs.expires: "never"
// for forever). Concurrent requests with the same value are joined into
// one call of at most remote.MaxLifetimeIDs ids: while one call is in
// flight the next requests gather, and go together in the next.

// XattrLifetime is the attribute that sets a file's lifetime.
const XattrLifetime = "user.chatfs.lifetime"

// DefaultLifetimeUser is the user the lifetime API is called for.
const DefaultLifetimeUser = "admin"

// LifetimeSetter is the lifetime call of the chatfiles client
// (remote.Client.SetLifetime). Implementations are safe for concurrent use;
// they return, per id, whether the service answered success.
type LifetimeSetter interface {
	SetLifetime(ctx context.Context, user, lifetime string, ids []string) (map[string]bool, error)
}

// SetLifetime sets the lifetime of the file an entry shows (with a
// video's thumbnail file, which would otherwise expire before it) and
// records its new expiry. It fails with ErrInvalid for a value other than
// forever, refresh or default, ErrNotSupported when the service does not
// offer the API for the app (said once in the log), an error satisfying
// IsInvalid when the service refuses the request (400), ErrLifetimeFailed
// when the service answers "failed" for the file, and ctx's error when ctx
// ends first (the call then still completes, and is recorded).
func (a *App) SetLifetime(ctx context.Context, e Entry, value string) error {
	if !remote.ValidLifetime(value) {
		return fmt.Errorf("%w: %s must be forever, refresh or default", ErrInvalid, XattrLifetime)
	}
	if a.opts.Lifetime == nil {
		return fmt.Errorf("%w: no lifetime API for app %s", ErrNotSupported, a.opts.Name)
	}
	ids := []string{e.file.UUID}
	if e.file.ThumbUUID != "" {
		ids = append(ids, e.file.ThumbUUID)
	}
	ok, err := a.lifetimes.submit(ctx, value, ids)
	if err != nil {
		return err
	}
	if !ok[e.file.UUID] {
		return fmt.Errorf("%w: %s", ErrLifetimeFailed, e.file.UUID)
	}
	return nil
}

// applyLifetime records what a lifetime call did to one file, and logs a
// failure of a file that is not the one asked for (a video's thumbnail).
func (a *App) applyLifetime(value, uuid string, ok bool, now time.Time) {
	if !ok {
		return
	}
	f, err := a.opts.Index.Get(a.opts.Name, uuid)
	if errors.Is(err, index.ErrNotFound) {
		return // forgotten meanwhile, or a thumbnail chatfs never recorded
	}
	if err == nil {
		expires, forever := a.lifetimeExpiry(f, value, now)
		_, err = a.opts.Index.SetExpiry(a.opts.Name, uuid, expires, forever)
	}
	if err != nil {
		a.log.Warn("lifetime set, but not recorded", "uuid", uuid, "lifetime", value, "err", err)
	}
}

// lifetimeExpiry is a file's expiry after value was applied at now:
// never for forever; the retention from now for refresh; for default, the
// retention from its upload, known for files with a URL (uploaded by
// chatfs, or known from a message) and unknown (zero) for others.
func (a *App) lifetimeExpiry(f index.File, value string, now time.Time) (time.Time, bool) {
	switch value {
	case remote.LifetimeForever:
		return time.Time{}, true
	case remote.LifetimeRefresh:
		return now.Add(a.opts.Retention), false
	}
	if f.URL == "" {
		return time.Time{}, false
	}
	return f.Uploaded.Add(a.opts.Retention), false
}

// lifetimeBatcher joins concurrent lifetime requests into calls of at most
// remote.MaxLifetimeIDs ids, one sender per value at a time. Its senders
// run on the App's context and are waited for by close.
type lifetimeBatcher struct {
	// read only
	app *App

	warnOnce sync.Once      // the 403 forbidden_op line
	senders  sync.WaitGroup // Add under mu while !closed

	mu      sync.Mutex
	pending map[string][]*lifetimeReq // by value, oldest first. GUARDED_BY(mu)
	sending map[string]bool           // a sender runs for the value. GUARDED_BY(mu)
	closed  bool                      // GUARDED_BY(mu)
}

// lifetimeReq is one request waiting for its call.
type lifetimeReq struct {
	ids  []string
	done chan struct{} // closed once ok and err are set
	ok   map[string]bool
	err  error
}

func newLifetimeBatcher(a *App) *lifetimeBatcher {
	return &lifetimeBatcher{app: a, pending: make(map[string][]*lifetimeReq), sending: make(map[string]bool)}
}

// submit queues ids for value and waits for the call that carries them.
func (b *lifetimeBatcher) submit(ctx context.Context, value string, ids []string) (map[string]bool, error) {
	r := &lifetimeReq{ids: ids, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.pending[value] = append(b.pending[value], r)
	if !b.sending[value] {
		b.sending[value] = true
		b.senders.Add(1)
		go func() {
			defer b.senders.Done()
			b.send(value)
		}()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.ok, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send makes calls for value until no request is pending.
func (b *lifetimeBatcher) send(value string) {
	for {
		batch, ids := b.take(value)
		if batch == nil {
			return
		}
		a := b.app
		ok, err := a.opts.Lifetime.SetLifetime(a.ctx, a.lifetimeUser(), value, ids)
		switch {
		case remote.IsForbiddenOp(err):
			b.warnOnce.Do(func() {
				a.log.Warn("the service does not offer the lifetime API for this app (403 forbidden_op; Agora Chat has none): "+
					"setting "+XattrLifetime+" answers EOPNOTSUPP", "err", err)
			})
			err = fmt.Errorf("%w: %v", ErrNotSupported, err)
		case err == nil:
			now := a.opts.Now()
			for _, id := range ids {
				a.applyLifetime(value, id, ok[id], now)
			}
			for _, r := range batch {
				for _, id := range r.ids[1:] {
					if !ok[id] {
						a.log.Warn("lifetime: the service failed the thumbnail's file", "uuid", r.ids[0], "thumbnail", id, "lifetime", value)
					}
				}
			}
		}
		for _, r := range batch {
			r.ok, r.err = ok, err
			close(r.done)
		}
	}
}

// take removes from value's queue the oldest requests whose ids fit in one
// call, and returns them with their ids (each once); nil, and the sender
// marked stopped, when none is pending.
func (b *lifetimeBatcher) take(value string) ([]*lifetimeReq, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.pending[value]
	if len(q) == 0 {
		delete(b.pending, value)
		b.sending[value] = false
		return nil, nil
	}
	seen := make(map[string]bool)
	var ids []string
	n := 0
	for ; n < len(q); n++ {
		fresh := 0
		for _, id := range q[n].ids {
			if !seen[id] {
				fresh++
			}
		}
		if len(ids)+fresh > remote.MaxLifetimeIDs {
			break
		}
		for _, id := range q[n].ids {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	batch := q[:n:n]
	b.pending[value] = q[n:]
	return batch, ids
}

// close stops new requests and waits for the senders, which the App's
// cancelled context ends.
func (b *lifetimeBatcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.senders.Wait()
}

// lifetimeUser is the user lifetime calls are made for.
func (a *App) lifetimeUser() string {
	if a.opts.LifetimeUser == "" {
		return DefaultLifetimeUser
	}
	return a.opts.LifetimeUser
}
