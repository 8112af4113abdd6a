package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStress runs Open, read, Remove and Adopt on a few keys from many
// goroutines with a small bound, then checks the accounting against the disk.
func TestStress(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, func(o *Options) { o.MaxBytes = 40_000 })
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	content := map[string][]byte{}
	for i, k := range keys {
		content[k] = randBytes(5_000 + 3_000*i)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 60 {
				k := keys[r.IntN(len(keys))]
				data := content[k]
				switch r.IntN(10) {
				case 0:
					assert.NoError(t, c.Remove(k))
				case 1:
					src := filepath.Join(filepath.Dir(c.dir), fmt.Sprintf("up-%d-%d", g, i))
					if assert.NoError(t, os.WriteFile(src, data, 0o600)) {
						assert.NoError(t, c.Adopt(k, src))
					}
				default:
					f := &fake{data: data, cut: func(int) int { return r.IntN(len(data) + 1) }}
					if r.IntN(2) == 0 {
						f = &fake{data: data}
					}
					h, err := c.Open(ctx, k, int64(len(data)), f.fetch)
					if !assert.NoError(t, err) {
						continue
					}
					got, err := readAll(ctx, h)
					if err == nil {
						assert.Equal(t, data, got)
					}
					assert.NoError(t, h.Close())
				}
			}
		}()
	}
	wg.Wait()
	c.running.Wait() // fills end (and evict) after their readers have left

	b, n := c.Usage()
	assert.LessOrEqual(t, b, int64(40_000))
	var onDisk int64
	var files int
	for _, name := range dirNames(t, c.dir) {
		fi, err := os.Stat(filepath.Join(c.dir, name))
		require.NoError(t, err)
		require.True(t, ValidKey(name), "leftover %s", name)
		assert.True(t, c.Has(name), name)
		assert.Equal(t, int64(len(content[name])), fi.Size(), name)
		onDisk += fi.Size()
		files++
	}
	assert.Equal(t, onDisk, b)
	assert.Equal(t, files, n)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		assert.True(t, e.complete && e.idle() && !e.removed, "entry %s left in use: %+v", k, e)
	}
}
