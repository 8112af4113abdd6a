package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const benchRead = 128 << 10

// BenchmarkReadCached measures ReadAt throughput, 128 KiB at a time, over a
// complete 64 MiB entry.
func BenchmarkReadCached(b *testing.B) {
	ctx := context.Background()
	const size = 64 << 20
	c := newCache(b, func(o *Options) { o.MaxBytes = 2 * size })
	src := filepath.Join(filepath.Dir(c.dir), "src")
	require.NoError(b, os.WriteFile(src, randBytes(size), 0o600))
	require.NoError(b, c.Adopt(key, src))
	refuse := func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
		return nil, 0, 0, errors.New("unexpected fetch")
	}
	h, err := c.Open(ctx, key, size, refuse)
	require.NoError(b, err)
	defer h.Close()
	p := make([]byte, benchRead)
	b.SetBytes(benchRead)
	b.ResetTimer()
	off := int64(0)
	for b.Loop() {
		if _, err := h.ReadAt(ctx, p, off); err != nil {
			b.Fatal(err)
		}
		off = (off + benchRead) % size
	}
}

// BenchmarkFillAndRead measures a whole fill of an 8 MiB entry from an
// in-memory body, with a reader following it 128 KiB at a time: write,
// checksum, rename and the reader's wake-ups (no fsync).
func BenchmarkFillAndRead(b *testing.B) {
	ctx := context.Background()
	const size = 8 << 20
	data := randBytes(size)
	c := newCache(b, func(o *Options) { o.MaxBytes = 4 * size })
	f := &fake{data: data}
	p := make([]byte, benchRead)
	b.SetBytes(size)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		h, err := c.Open(ctx, fmt.Sprintf("k%d", i), size, f.fetch)
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); ; off += benchRead {
			_, err := h.ReadAt(ctx, p, off)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		h.Close()
	}
}
