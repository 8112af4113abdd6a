package index

import "sync"

// groupSync makes concurrent syncs share the work: a caller needs a sync
// that starts after its own commit; while one is running, callers that
// arrive wait for the next one, which one of them runs for all. So N
// writers closing files at once cost about two syncs, not N.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncs started. GUARDED_BY(mu)
	done    uint64 // the last finished sync (by start number). GUARDED_BY(mu)
	running bool   // GUARDED_BY(mu)
	errRun  uint64 // the last sync that failed (by start number). GUARDED_BY(mu)
	err     error  // its error. GUARDED_BY(mu)
	waiting int    // callers waiting for a run (tests watch it). GUARDED_BY(mu)
}

func newGroupSync() *groupSync {
	g := &groupSync{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// do returns once a run of fn that started after do was called has
// finished, with that run's error.
func (g *groupSync) do(fn func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1 // a sync running now started before our commit
	for g.done < need {
		if g.running {
			g.waiting++
			g.cond.Wait()
			g.waiting--
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		err := fn()
		g.mu.Lock()
		g.running, g.done = false, n
		if err != nil {
			g.errRun, g.err = n, err
		}
		g.cond.Broadcast()
	}
	if g.errRun >= need {
		// A run that covered our commit failed (a later success does not
		// mend it: after a failed fsync the kernel may have dropped the
		// dirty pages it could not write).
		return g.err
	}
	return nil
}
