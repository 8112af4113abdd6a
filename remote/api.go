// Package remote is the client for the chatfiles REST API of Agora Chat,
// Shengwang IM and Easemob.
//
// Model: one Client per app. Every non-2xx answer becomes an *Error that
// carries the HTTP status and the server's `error` / `error_description`;
// callers classify errors with the predicates in errors.go (IsNotExist,
// IsRetryable, ...), never by matching text. Transient failures are retried
// with exponential backoff and jitter, bounded in attempts and total time.
// Calls are paced by a client-side limiter kept under the service's
// 100 calls/s per app.
package remote

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Endpoint names one app on one deployment. Exactly one of AppID or the
// Org/App pair is set.
type Endpoint struct {
	BaseURL string // scheme://host[:port], no trailing slash needed
	AppID   string // Shengwang IM: {base}/app-id/{AppID}
	Org     string // Agora Chat / Easemob: {base}/{Org}/{App}
	App     string
}

// TokenSource supplies app tokens. Implementations are safe for concurrent use.
type TokenSource interface {
	// Token returns the token to send now.
	Token(ctx context.Context) (string, error)
	// Renew is called once after the server refused token bad with 401. It
	// returns a token to retry with (re-read or regenerated), or an error
	// when no better token is available.
	Renew(ctx context.Context, bad string) (string, error)
}

// RetryPolicy bounds retries of transient failures. Zero fields take defaults.
type RetryPolicy struct {
	MaxAttempts    int           // total attempts including the first; default 5
	InitialBackoff time.Duration // default 200ms
	MaxBackoff     time.Duration // default 5s
	MaxElapsed     time.Duration // give up after this much time; default 30s
}

// Options configure a Client. Zero fields take defaults.
type Options struct {
	Endpoint Endpoint
	Tokens   TokenSource
	Retry    RetryPolicy
	// RateLimit is the number of calls per second allowed, per kind of call
	// (uploads and downloads are limited separately, as the service does).
	// Default 90. Negative disables the limiter (tests only).
	RateLimit float64
	// SendLimits pace messages, with limiters of their own.
	SendLimits SendLimits
	// HistoryPerMinute limits the history export calls (History), on a
	// limiter of their own; default 10 (the service's limit). Negative
	// disables it (tests only).
	HistoryPerMinute float64
	// Timeouts: TCP connect, waiting for response headers, and the longest
	// pause allowed between two reads of a response body.
	ConnectTimeout  time.Duration // default 10s
	HeaderTimeout   time.Duration // default 30s
	IdleBodyTimeout time.Duration // default 30s
	// MaxConnsPerHost bounds the connections open to the service at once
	// (idle ones included); a request beyond it waits for a connection.
	// Default 16: the cache's downloads and the uploaders fit, a burst of
	// lookups does not open hundreds. Not applied to a Transport given.
	MaxConnsPerHost int
	// Transport, if set, replaces the default transport (tests, proxies).
	Transport http.RoundTripper
	Logger    *slog.Logger
	UserAgent string
	// Observer, if set, is told of every attempt and retry (metrics).
	Observer Observer
}

// Observer sees the client's requests, for metrics. Its methods are
// called on the request's goroutine: they must be fast and safe for
// concurrent use.
type Observer interface {
	// Attempt: one try of a call of kind ("upload", "download",
	// "thumbnail") took d until its answer's headers (or its failure);
	// status is the HTTP status, 0 when none came.
	Attempt(kind string, status int, d time.Duration)
	// Retry: a call of kind is tried again after a transient failure.
	Retry(kind string)
}

// UploadRequest describes one file to upload. The body is read from File,
// from offset 0 to Size, and streamed; it is read again from the start on a
// retry, so File must not change during the call.
type UploadRequest struct {
	Name        string // sent as the multipart file name
	File        io.ReaderAt
	Size        int64
	Restrict    bool // send restrict-access: true
	ThumbWidth  int  // thumbnail-width header when > 0
	ThumbHeight int  // thumbnail-height header when > 0
}

// UploadResult is the server's answer to an upload.
type UploadResult struct {
	UUID string
	// ShareSecret is the secret the server returned. Servers may return one
	// even for unrestricted files; it is needed to download when Restricted.
	ShareSecret string
	Restricted  bool   // the upload asked for restrict-access
	URI         string // the chatfiles URI; the file's URL is URI + "/" + UUID
	Timestamp   time.Time
}

// DownloadRequest asks for a file, or its thumbnail, from Offset on.
type DownloadRequest struct {
	UUID        string
	ShareSecret string
	Thumbnail   bool
	Offset      int64 // Range is sent when > 0
}

// Download is an open download. Body yields the file's bytes from Offset.
// A body that ends before the advertised length returns an error
// (io.ErrUnexpectedEOF), never a short success.
type Download struct {
	Body        io.ReadCloser
	Offset      int64 // request's Offset if the server honoured Range, else 0
	Size        int64 // the whole file's size, -1 when unknown
	ContentType string
}
