package index

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is an injected, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openAt opens dir with clk, closing it when the test ends.
func openAt(t testing.TB, dir string, clk *clock) *DB {
	t.Helper()
	db, err := Open(dir, Options{Logger: quietLogger(), Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openTemp opens a fresh on-disk DB.
func openTemp(t testing.TB) (*DB, *clock) {
	t.Helper()
	clk := newClock()
	return openAt(t, t.TempDir(), clk), clk
}
