// Package emulator is a faithful stand-in for the chatfiles service:
// both URL shapes, multipart upload, thumbnails, restrict-access with
// share-secret, expiry, the size limit and the exact error bodies of the
// real service, with files kept on disk so a restart keeps them.
//
// Model: a Server is an http.Handler over a data directory. Each app
// ("app-id/{id}" or "{org}/{app}") is a namespace, a directory under
// Dir/apps created on first upload. A stored file is two files named by its
// uuid: the bytes and a JSON sidecar with its metadata (name, size,
// restriction, share-secret, thumbnail box, creation time). Both are written
// to a temp file and renamed into place, so a crash never leaves a half file
// visible, and a new Server on the same Dir serves everything stored before.
// Generated thumbnails are cached next to the file as {uuid}.thumb.
//
// The message layer: sends (POST {base}/messages/…) are stored as history
// records, one JSONL file per app and UTC hour under Dir/messages, and
// exported per hour (GET {base}/chatmessages/{yyyyMMddHH}) through
// presigned URLs the Server serves itself; see messages.go and history.go.
// SeedDemo fills an app with a demo conversation.
//
// Everything a request touches on disk is named by a validated uuid or an
// escaped app key, never by raw client input.
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
	Logger  *slog.Logger // one line per request; default slog.Default()

	// LifetimeAPI serves PUT/POST {base}/users/{user}/chatfiles/lifetime;
	// off, it answers 403 forbidden_op, as the service does for an app
	// that has not enabled it. LifetimeRate bounds its calls per second
	// and app (default 100, the service's; 429 reach_limit beyond).
	LifetimeAPI  bool
	LifetimeRate float64

	// Authorize, when set, replaces the bearer-token check. It is called
	// with the app key ("app-id/ID" or "org/app") and the bearer token (""
	// when the request carries none) and returns nil to accept. An error
	// that is an *AuthError chooses the 401 body; any other error answers
	// the default auth_bad_access_token body. It must be safe for
	// concurrent use.
	Authorize func(app, token string) error

	// Certificates, when set, make the apps they name accept only valid
	// AccessToken2 chat app tokens: the key is an app key ("app-id/ID",
	// "org/app") or AllApps, the value the App ID and App Certificate the
	// token must carry. Expired tokens answer 401 "unauthorized", others
	// 401 "auth_bad_access_token". Ignored when Authorize is set.
	Certificates map[string]AppCertificate
	// ClientID and ClientSecret, when set, make POST {base}/token issue
	// tokens for the client_credentials grant; the Server accepts them for
	// their app until they expire. ClientTokenTTL is their lifetime,
	// default 60 days (Easemob's); a request's "ttl" may shorten it.
	ClientID       string
	ClientSecret   string
	ClientTokenTTL time.Duration

	// The message layer (messages.go, history.go). An hour's history
	// export becomes available HistoryDelay after the hour ends (default
	// 1h, the services' "about an hour"; negative: at once) and stays available until
	// HistoryRetention after its end (default 72h). HistoryLive also serves
	// hours not yet available, the one in progress included, as they stand.
	// HistoryRate is the GET chatmessages limit in calls per minute per app
	// (default 10; negative: none). HistoryTZ is the zone hours are named
	// in: UTC (default) or UTC+8 (China clusters). HistoryURLTTL is the
	// lifetime of the presigned export URLs (default 30 min).
	HistoryDelay     time.Duration
	HistoryRetention time.Duration
	HistoryLive      bool
	HistoryRate      int
	HistoryTZ        *time.Location
	HistoryURLTTL    time.Duration
	// SendLimits are the send endpoints' rate limits; zero fields take the
	// service's.
	SendLimits SendLimits
}

// SendLimits are the per-app limits of POST {base}/messages/…. Zero
// fields take the service's values; a negative one means no limit.
type SendLimits struct {
	UserCalls    int // /messages/users calls per second (100); over it: 429
	UserMessages int // /messages/users messages per minute, each recipient counting (6,000); over it: 403
	GroupCalls   int // /messages/chatgroups calls, and groups sent to, per second (20); 429 / 403
	RoomCalls    int // /messages/chatrooms calls, and rooms sent to, per second (20); 429 / 403
}

// AuthError is an authorization failure with the `error` and
// `error_description` the 401 answer should carry, for example
// {"unauthorized", "Unable to authenticate due to expired access token"}.
type AuthError struct {
	Code        string // the body's "error"
	Description string // the body's "error_description"
}

// Error implements error.
func (e *AuthError) Error() string { return e.Code + ": " + e.Description }

// Stats are a Server's counters since New.
type Stats struct {
	Uploads    int64 // uploads stored (200 answers)
	TooLarge   int64 // uploads refused for size, counted when the limit is passed, before the 413 is sent
	Downloads  int64 // file downloads served (200 or 206), thumbnails excluded
	Thumbnails int64 // thumbnail downloads served (200 or 206)
	Tokens     int64 // tokens issued by the token endpoint
	Messages   int64 // message records stored (one per target), sends and PostMessage alike
	History    int64 // GET chatmessages calls answered 200
	Exports    int64 // history export files served at their presigned URL
}

const (
	defaultMaxSize = 10 * 1024 * 1024
	defaultTTL     = 168 * time.Hour
	// ownThumbMax is the size at or under which an image is its own thumbnail.
	ownThumbMax = 10 * 1024
	// defaultThumbBox is the thumbnail box when the upload gave none.
	defaultThumbBox = 170

	defaultHistoryDelay     = time.Hour
	defaultHistoryRetention = 72 * time.Hour
	defaultHistoryRate      = 10
	defaultHistoryURLTTL    = 30 * time.Minute
)
