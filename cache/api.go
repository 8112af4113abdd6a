// Package cache keeps file bytes on local disk: the download cache, filled by
// streaming downloads that readers can follow while they run, bounded in size
// with least-recently-used eviction that never evicts an open file.
//
// # Model
//
// Every entry is one file, Dir/<key>, where key is a uuid or "<uuid>.thumb"
// (see ValidKey); display names never reach the disk. An entry is complete
// once all its bytes are on disk: only then does it have its final name. A
// fill downloads a missing entry into Dir/<key>.partial, sequentially, and
// renames it to Dir/<key> when exactly the announced number of bytes has
// arrived, with their size and checksum recorded on the file (verify.go):
// a cache can be fetched again, so fills do not fsync; the record tells
// a file a crash tore from a whole one. At most one fill runs per key; every Open of a key that
// is filling joins that fill, and its Handle reads bytes as soon as they are
// written. Fills run on a context detached from the opener's, so a reader
// that gives up (a FUSE interrupt) never aborts the download for the others;
// the Cache owns them instead: Close cancels every fill and waits for it.
// At most Options.MaxDownloads fills download at once; the others queue,
// and their readers wait (or leave with their own context) meanwhile.
//
// A fill that fails leaves nothing behind: the partial file is deleted, its
// readers get the error, and the next Open starts a fresh fill. Leftover
// partial and temporary files from a crash are deleted when the Cache opens.
//
// The total size of complete entries is bounded by Options.MaxBytes: after a
// fill completes or a file is adopted, the least recently used complete
// entries that are neither open nor filling are deleted.
package cache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// Fetcher opens the remote bytes of one cache entry from offset on. It
// returns the body, the offset the body really starts at (offset, or 0 when
// the server ignored the range), and the entry's total size (-1 if unknown).
// It is expected to retry transient failures itself: the cache calls it
// again only to resume a body that broke off (an error Options.Retryable
// accepts) after bytes arrived, at the offset reached. When a body ends
// and neither the opener nor the Fetcher gave a size, the cache calls it
// once more at the last byte's offset, and the entry is complete only if
// that answer announces a size equal to the bytes received.
//
// The context passed to a Fetcher is detached from any reader's context: it
// carries the values of the Open that started the fill, but no deadline, and
// it is cancelled only by Cache.Close. The cache closes every body it
// receives.
type Fetcher func(ctx context.Context, offset int64) (body io.ReadCloser, start int64, size int64, err error)

// Options configure a Cache. Zero fields take defaults.
type Options struct {
	// Dir holds the entries; created 0700 if missing. Required.
	Dir string
	// MaxBytes bounds the bytes of complete entries, default 1 GiB; entries
	// open or filling are never evicted, so usage may exceed it while they are.
	MaxBytes int64
	// MinFree is the space the cache leaves to others on its disk: after a
	// fill or an adoption, least recently used complete entries are evicted
	// while the disk has less available (idle entries only, as for
	// MaxBytes). Zero: no such bound.
	MinFree int64
	// FillAttempts bounds the fetches of one fill's body, first included,
	// default 5 (plus one to confirm a size nobody announced). A fetch is
	// made again only after the previous body broke off with bytes
	// arrived; a fetch that fails ends the fill.
	FillAttempts int
	// Retryable reports whether an error of a body read is worth resuming
	// at the offset reached. Default: io.ErrUnexpectedEOF only. The cache's
	// own errors (size mismatch, disk errors) are never retried.
	Retryable func(error) bool
	// MaxDownloads bounds the fills that download at once, default 8. A
	// fill beyond it waits for a slot (its readers wait with it, and may
	// leave on their own context); a thumbnail grid cannot open hundreds
	// of downloads.
	MaxDownloads int
	// Backoff is the first pause before resuming a body, default 200ms,
	// doubling after each resume.
	Backoff time.Duration
	// Now is the clock of last-access times, default time.Now.
	Now func() time.Time
	// Logger receives retries (debug) and failed fills (info); default
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultFillAttempts = 5
	DefaultMaxDownloads = 8
	DefaultBackoff      = 200 * time.Millisecond
)

// Stats are counters of a Cache's activity, for tests and status output.
type Stats struct {
	Fills      int64 // fills started
	Fetches    int64 // Fetcher calls, retries included
	Joins      int64 // Opens that joined a running fill
	Queued     int64 // fills that waited for a download slot (MaxDownloads)
	Hits       int64 // Opens served by a complete entry
	Evictions  int64 // complete entries deleted to stay under MaxBytes
	Downloaded int64 // body bytes written by fills
	Bytes      int64 // bytes of complete entries now on disk
	Files      int64 // complete entries now on disk
}

// Errors returned by the cache. Errors from a Fetcher or a body are passed
// on wrapped, so errors.Is and errors.As still see them.
var (
	// ErrInvalidKey: a key that ValidKey rejects.
	ErrInvalidKey = errors.New("cache: invalid key")
	// ErrSizeMismatch: the bytes received differ from the size announced by
	// the opener or the Fetcher. Such a fill is never cached.
	ErrSizeMismatch = errors.New("cache: size mismatch")
	// ErrSizeUnconfirmed: a body ended cleanly without anyone having
	// announced its size, and the Fetcher could not confirm it (see
	// Fetcher). Such a fill is never cached: a cut body looks the same.
	ErrSizeUnconfirmed = errors.New("cache: size not confirmed")
	// ErrClosed: the Cache was closed; Open refuses, and fills that were
	// running fail with it.
	ErrClosed = errors.New("cache: closed")
)
