// Package backoff is chatfs's one way to pause between attempts: an
// exponential Policy with a choice of jitter, and Sleep, which a context
// cuts short. The client's retry layer (remote), the uploaders' retry
// schedule (core), the cache's resume of a cut body, token requests and
// index transaction conflicts all use it.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter is how a Policy spreads a pause below its ceiling.
type Jitter int

const (
	// None pauses exactly the ceiling.
	None Jitter = iota
	// Full pauses uniformly in [0, ceiling] (spreads concurrent retries most).
	Full
	// Equal pauses uniformly in [ceiling/2, ceiling] (never much shorter
	// than asked, still spread).
	Equal
)

// Policy is exponential backoff: after n failed attempts the ceiling is
// Initial·2^(n-1), at most Max, spread by Jitter. A Policy is a value;
// it is safe for concurrent use.
type Policy struct {
	Initial time.Duration // ceiling after the first failure; > 0
	Max     time.Duration // cap of the ceiling; 0 means no cap
	Jitter  Jitter
}

// Delay is the pause before attempt n+1 after n failed attempts (n < 1
// counts as 1).
func (p Policy) Delay(n int) time.Duration {
	ceil := p.Initial
	for i := 1; i < n && (p.Max <= 0 || ceil < p.Max) && ceil < time.Duration(1)<<61; i++ {
		ceil *= 2
	}
	if p.Max > 0 {
		ceil = min(ceil, p.Max)
	}
	if ceil <= 0 {
		return 0
	}
	switch p.Jitter {
	case Full:
		return rand.N(ceil + 1)
	case Equal:
		return ceil/2 + rand.N(ceil-ceil/2+1)
	}
	return ceil
}

// Sleep pauses for d, or until ctx is done, when it returns
// context.Cause(ctx). A d <= 0 returns at once (nil, unless ctx is done).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
