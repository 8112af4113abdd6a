package emulator

import (
	"sync"
	"time"
)

// window is a sliding-window limit: at most limit units in any span of
// per. It keeps one entry per admitted call, so it holds at most limit
// entries. It is not safe for concurrent use (limiters guards it).
type window struct {
	per   time.Duration
	limit int
	sum   int
	ev    []event // admitted calls, oldest first
}

type event struct {
	at time.Time
	n  int
}

// allow admits n units at now when the window has room for them, and
// reports whether it did. Refused calls are not counted.
func (w *window) allow(now time.Time, n int) bool {
	if w.limit < 0 {
		return true
	}
	cut := 0
	for cut < len(w.ev) && !w.ev[cut].at.After(now.Add(-w.per)) {
		w.sum -= w.ev[cut].n
		cut++
	}
	w.ev = w.ev[cut:]
	if w.sum+n > w.limit {
		return false
	}
	w.ev = append(w.ev, event{now, n})
	w.sum += n
	return true
}

// limiters are the Server's per-app rate limits, keyed by app and purpose.
// Safe for concurrent use.
type limiters struct {
	mu sync.Mutex
	w  map[limitKey]*window // GUARDED_BY(mu)
}

type limitKey struct{ app, what string }

// allow admits n units for app under the limit named what (limit units per
// per; a negative limit admits everything).
func (l *limiters) allow(app, what string, limit int, per time.Duration, now time.Time, n int) bool {
	if limit < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		l.w = make(map[limitKey]*window)
	}
	k := limitKey{app, what}
	w := l.w[k]
	if w == nil {
		w = &window{per: per, limit: limit}
		l.w[k] = w
	}
	return w.allow(now, n)
}
