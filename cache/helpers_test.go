package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newCache opens a cache in a fresh directory with fast retries and a quiet
// logger; mutate adjusts the options first.
func newCache(t testing.TB, mutate func(*Options)) *Cache {
	t.Helper()
	o := Options{
		Dir:     filepath.Join(t.TempDir(), "cache"),
		Backoff: time.Millisecond,
		Logger:  slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&o)
	}
	c, err := Open(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n:n]
}

// fake is a Fetcher over data that can ignore ranges, cut bodies short and
// announce another size. It records the offsets asked for.
type fake struct {
	data        []byte
	ignoreRange bool
	announce    func(call int) int64 // size announced; default len(data)
	cut         func(call int) int   // bytes the body gives before io.ErrUnexpectedEOF; <0 = all
	err         error                // returned by every fetch, if set

	mu      sync.Mutex
	offsets []int64
	ctxs    []context.Context
}

func (f *fake) fetch(ctx context.Context, off int64) (io.ReadCloser, int64, int64, error) {
	f.mu.Lock()
	call := len(f.offsets)
	f.offsets = append(f.offsets, off)
	f.ctxs = append(f.ctxs, ctx)
	f.mu.Unlock()
	if f.err != nil {
		return nil, 0, 0, f.err
	}
	size := int64(len(f.data))
	if f.announce != nil {
		size = f.announce(call)
	}
	start := off
	if f.ignoreRange {
		start = 0
	}
	var r io.Reader = bytes.NewReader(f.data[start:])
	if f.cut != nil {
		if n := f.cut(call); n >= 0 {
			r = &cutReader{r: r, left: n, err: io.ErrUnexpectedEOF}
		}
	}
	return io.NopCloser(r), start, size, nil
}

func (f *fake) calls() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.offsets...)
}

// cutReader gives left bytes of r, then err.
type cutReader struct {
	r    io.Reader
	left int
	err  error
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, c.err
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= n
	return n, err
}

// noFetch fails the test if the cache fetches.
func noFetch(t *testing.T) Fetcher {
	return func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
		t.Error("unexpected fetch")
		return nil, 0, 0, errors.New("unexpected fetch")
	}
}

// readAll reads a handle from 0 to EOF in odd-sized steps.
func readAll(ctx context.Context, h *Handle) ([]byte, error) {
	var out []byte
	buf := make([]byte, 7001)
	for off := int64(0); ; {
		n, err := h.ReadAt(ctx, buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names
}

// clock is an injected clock that moves forward only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) tick() {
	c.mu.Lock()
	c.now = c.now.Add(time.Minute)
	c.mu.Unlock()
}
