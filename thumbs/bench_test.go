package thumbs

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
)

// What a listing of 5,000 images pays to offer them: the first time
// (queued; the fetches block), and again once handled (the steady state of
// a folder listed over and over).
func BenchmarkOffer5000(b *testing.B) {
	items := make([]Item, 5000)
	block := make(chan struct{})
	fetch := func(ctx context.Context) ([]byte, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil, ctx.Err()
	}
	for i := range items {
		items[i] = Item{Path: fmt.Sprintf("/mnt/demo/files/%08d-0000-4000-8000-000000000000", i), MTime: mtime, Fetch: fetch}
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			c, err := New(Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			c.Offer(items)
			b.StopTimer()
			c.Close()
			b.StartTimer()
		}
	})
	b.Run("again", func(b *testing.B) {
		c, err := New(Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		c.mu.Lock()
		for _, it := range items {
			c.done[it.Path] = mtimeOf(it.MTime)
		}
		c.mu.Unlock()
		for b.Loop() {
			c.Offer(items)
		}
	})
}
