package index

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every caller returns only after a run that started after its call, and
// callers that arrive while a run is going share the next one.
func TestGroupSyncShares(t *testing.T) {
	g := newGroupSync()
	var runs atomic.Int64
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	fn := func() error {
		runs.Add(1)
		select {
		case entered <- struct{}{}:
			<-gate // the first run blocks while the others arrive
		default:
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); assert.NoError(t, g.do(fn)) }()
	<-entered // the first run is going
	const late = 20
	for range late {
		wg.Add(1)
		go func() { defer wg.Done(); assert.NoError(t, g.do(fn)) }()
	}
	for {
		g.mu.Lock()
		n := g.waiting
		g.mu.Unlock()
		if n == late {
			break
		}
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	assert.Equal(t, int64(2), runs.Load(), "the late callers share one run after the first")

	// Called after everything finished: a new run.
	before := runs.Load()
	require.NoError(t, g.do(fn))
	assert.Equal(t, before+1, runs.Load())

	// Its error reaches the callers it covered.
	boom := errors.New("boom")
	assert.ErrorIs(t, g.do(func() error { return boom }), boom)
}
