// Package cache keeps file bytes on local disk: the download cache, filled by
// streaming downloads that readers can follow while they run, bounded in size
// with least-recently-used eviction that never evicts an open file.
package cache

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Fetcher opens the remote bytes of one cache entry from offset on. It
// returns the body, the offset the body really starts at (offset, or 0 when
// the server ignored the range), and the entry's total size (-1 if unknown).
// The cache calls it again, at the offset reached, after a body error that
// Options.Retryable accepts.
type Fetcher func(ctx context.Context, offset int64) (body io.ReadCloser, start int64, size int64, err error)

// Options configure a Cache. Zero fields take defaults.
type Options struct {
	Dir          string
	MaxBytes     int64 // default 1 GiB; entries open or filling are never evicted
	FillAttempts int   // fetch attempts per fill, default 5
	Retryable    func(error) bool
	Backoff      time.Duration // first pause between fill attempts, default 200ms, doubling
	Now          func() time.Time
	Logger       *slog.Logger
}
