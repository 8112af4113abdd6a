// Package emulator is a faithful stand-in for the chatfiles service:
// both URL shapes, multipart upload, thumbnails, restrict-access with
// share-secret, expiry, the size limit and the exact error bodies of the
// real service, with files kept on disk so a restart keeps them.
package emulator

import (
	"log/slog"
	"time"
)

// Options configure a Server. Zero fields take defaults.
type Options struct {
	Dir     string        // data directory (required)
	Token   string        // accepted bearer token; generated and written to Dir/token (0600) when empty
	MaxSize int64         // per-file size limit; default 10 MB (10*1024*1024)
	TTL     time.Duration // file lifetime; default 168h
	Apps    []string      // when set, only these apps exist ("app-id/ID" or "org/app" form)
	NoRange bool          // ignore Range headers (the documented service does not promise them)
	Now     func() time.Time
	Logger  *slog.Logger
}
