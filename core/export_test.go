package core

import "github.com/chatfs/chatfs/index"

// Record is the index record an entry was made from, for tests that check
// what the core recorded.
func (e Entry) Record() index.File { return e.file }

// LifetimePending is how many lifetime requests wait for a call.
func (a *App) LifetimePending() int {
	b := a.lifetimes
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, q := range b.pending {
		n += len(q)
	}
	return n
}
