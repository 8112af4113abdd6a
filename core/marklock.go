package core

import (
	"hash/maphash"
	"sync"
)

// markLocks order the index writes that record whether a staged file is
// complete (see writers.go): the writes for one path happen in the order
// of the events that meant them, while different paths go on in parallel
// (each such write may wait for a sync to disk). A rename, which moves the
// entries of a whole subtree, holds every stripe.
//
// LOCK ORDERING: a stripe (or all, in index order) before Outbox.mu.
type markLocks struct {
	seed    maphash.Seed
	stripes [32]sync.Mutex
}

func newMarkLocks() *markLocks { return &markLocks{seed: maphash.MakeSeed()} }

// lock locks the stripe of rel and returns its unlock.
func (m *markLocks) lock(rel string) func() {
	mu := &m.stripes[maphash.String(m.seed, rel)%uint64(len(m.stripes))]
	mu.Lock()
	return mu.Unlock
}

// lockAll locks every stripe and returns the unlock of them all.
func (m *markLocks) lockAll() func() {
	for i := range m.stripes {
		m.stripes[i].Lock()
	}
	return func() {
		for i := len(m.stripes) - 1; i >= 0; i-- {
			m.stripes[i].Unlock()
		}
	}
}

// lockWriter locks the stripe of writer w's path as it is once locked (a
// rename may move it while we wait) and returns that path and the unlock.
func (o *Outbox) lockWriter(w *writer) (string, func()) {
	for {
		o.mu.Lock()
		rel := w.path
		o.mu.Unlock()
		unlock := o.marks.lock(rel)
		o.mu.Lock()
		same := w.path == rel
		o.mu.Unlock()
		if same {
			return rel, unlock
		}
		unlock()
	}
}
