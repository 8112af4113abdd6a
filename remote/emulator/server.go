package emulator

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the emulated chatfiles service, an http.Handler. It is safe for
// concurrent use. Mount it at the root of a server: it answers every path.
type Server struct {
	// read only after New
	st         *store
	token      string
	maxSize    int64
	ttl        time.Duration
	apps       map[string]bool // nil: every app exists
	noRange    bool
	log        *slog.Logger
	authorize  func(app, token string) error
	thumbSem   chan struct{} // a slot per thumbnail being made
	msgs       *msgStore
	hist       histConfig
	sendLimits SendLimits

	limits  limiters    // per-app rate limits of the message layer
	exports exportCache // recently made history export files
	demoMu  sync.Mutex  // serializes SeedDemo
	life    lifetimes   // the lifetime API (lifetime.go)

	clock  atomic.Pointer[func() time.Time]
	closed atomic.Bool

	uploads, tooLarge, downloads, thumbnails, tokensIssued atomic.Int64
	messages, historyServed, exportsServed                 atomic.Int64

	authMu sync.Mutex
	// GUARDED_BY(authMu): certificates by app key (replaced whole by
	// SetCertificate), client credentials, and tokens issued by the token
	// endpoint.
	certs                  map[string]AppCertificate
	clientID, clientSecret string
	clientTTL              time.Duration
	issued                 map[string]issued

	mu sync.Mutex
	// GUARDED_BY(mu): successful downloads per uuid, files and thumbnails
	// counted apart; the names of uploads.
	perFile  map[string]int64
	perThumb map[string]int64
	names    map[string]string // uuid → file name as decoded from the upload
}

// New makes a Server over o.Dir, creating the directory (0700) if needed.
// When o.Token is empty, and neither certificates nor client credentials
// are configured, the token is read from Dir/token, or generated and
// written there (0600) when that file does not exist yet.
func New(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("emulator: Options.Dir is required")
	}
	st, err := openStore(o.Dir)
	if err != nil {
		return nil, err
	}
	msgs, err := openMsgStore(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		st:         st,
		msgs:       msgs,
		hist:       newHistConfig(o),
		sendLimits: withDefaults(o.SendLimits),
		token:      o.Token,
		maxSize:    o.MaxSize,
		ttl:        o.TTL,
		noRange:    o.NoRange,
		log:        o.Logger,
		authorize:  o.Authorize,
		perFile:    make(map[string]int64),
		perThumb:   make(map[string]int64),
		names:      make(map[string]string),
		thumbSem:   make(chan struct{}, thumbWorkers),
		issued:     make(map[string]issued),
		clientID:   o.ClientID,
		clientTTL:  o.ClientTokenTTL,
		life:       newLifetimes(o),
	}
	if (o.ClientID == "") != (o.ClientSecret == "") {
		return nil, errors.New("emulator: set both ClientID and ClientSecret, or neither")
	}
	s.clientSecret = o.ClientSecret
	if s.clientTTL <= 0 {
		s.clientTTL = defaultClientTokenTTL
	}
	if s.certs, err = normalizeCertificates(o.Certificates); err != nil {
		return nil, err
	}
	if s.maxSize <= 0 {
		s.maxSize = defaultMaxSize
	}
	if s.ttl <= 0 {
		s.ttl = defaultTTL
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if o.Apps != nil {
		s.apps = make(map[string]bool, len(o.Apps))
		for _, a := range o.Apps {
			key, ok := normalizeAppKey(a)
			if !ok {
				return nil, fmt.Errorf("emulator: app %q: want \"app-id/ID\" or \"org/app\"", a)
			}
			s.apps[key] = true
		}
	}
	s.SetNow(o.Now)
	if s.authorize == nil {
		if s.token == "" && !s.hasCredentials() {
			if s.token, err = st.readOrCreateToken(); err != nil {
				return nil, err
			}
		}
		s.authorize = s.checkAuth
	}
	return s, nil
}

// Token returns the static bearer token the Server accepts (the generated
// one when Options.Token was empty). It is empty when Options.Token was not
// given and Options.Authorize, Certificates or client credentials are set.
func (s *Server) Token() string { return s.token }

// Close makes the Server answer 503 to every later request. Files stay on
// disk for the next Server on the same Dir. It always returns nil.
func (s *Server) Close() error {
	s.closed.Store(true)
	return nil
}

// SetNow replaces the clock used for creation times, expiry and timestamps;
// nil restores time.Now. It is safe to call while serving.
func (s *Server) SetNow(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.clock.Store(&now)
}

func (s *Server) now() time.Time { return (*s.clock.Load())() }

// Stats returns the Server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Uploads:    s.uploads.Load(),
		TooLarge:   s.tooLarge.Load(),
		Downloads:  s.downloads.Load(),
		Thumbnails: s.thumbnails.Load(),
		Tokens:     s.tokensIssued.Load(),
		Messages:   s.messages.Load(),
		History:    s.historyServed.Load(),
		Exports:    s.exportsServed.Load(),
	}
}

// DownloadCount returns how many times the file uuid was served (200 or
// 206 answers, thumbnails excluded), in any app.
func (s *Server) DownloadCount(uuid string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perFile[uuid]
}

// UploadedName returns the file name of the upload that made uuid, exactly
// as decoded from its multipart header (filename*, RFC 5987, when given,
// else filename), and whether this Server received that upload.
func (s *Server) UploadedName(uuid string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, ok := s.names[uuid]
	return name, ok
}

// ThumbnailCount returns how many times the thumbnail of uuid was served.
func (s *Server) ThumbnailCount(uuid string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perThumb[uuid]
}

// countDownload records one served download of uuid.
func (s *Server) countDownload(uuid string, thumb bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if thumb {
		s.thumbnails.Add(1)
		s.perThumb[uuid]++
	} else {
		s.downloads.Add(1)
		s.perFile[uuid]++
	}
}

// auth is the one place requests are authorized. It answers the 401 and
// returns false when the request may not proceed.
func (s *Server) auth(w http.ResponseWriter, r *http.Request, app string) bool {
	token := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		token = strings.TrimSpace(h[7:])
	}
	err := s.authorize(app, token)
	if err == nil {
		return true
	}
	e := errBadToken
	var ae *AuthError
	if errors.As(err, &ae) {
		e.code, e.description = ae.Code, ae.Description
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="chatfiles"`)
	s.writeError(w, e)
	return false
}

// ServeHTTP routes a request and logs it in one line. Query strings are
// never logged (they may carry a share-secret), nor are headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	s.route(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	s.log.Info("chatfiles request",
		"method", r.Method,
		"path", r.URL.Path,
		"status", rec.status,
		"bytes", rec.bytes,
		"duration", time.Since(start))
}

// recorder remembers the status and counts the body bytes of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// histConfig is the history export's configuration, read only after New.
type histConfig struct {
	delay, retention, urlTTL time.Duration
	live                     bool
	rate                     int
	tz                       *time.Location
	secret                   []byte // signs presigned URLs; new for each Server
}

func newHistConfig(o Options) histConfig {
	h := histConfig{
		delay:     o.HistoryDelay,
		retention: o.HistoryRetention,
		urlTTL:    o.HistoryURLTTL,
		live:      o.HistoryLive,
		rate:      o.HistoryRate,
		tz:        o.HistoryTZ,
		secret:    []byte(randomString(32)),
	}
	switch {
	case h.delay == 0:
		h.delay = defaultHistoryDelay
	case h.delay < 0:
		h.delay = 0
	}
	if h.retention <= 0 {
		h.retention = defaultHistoryRetention
	}
	if h.urlTTL <= 0 {
		h.urlTTL = defaultHistoryURLTTL
	}
	if h.rate == 0 {
		h.rate = defaultHistoryRate
	}
	if h.tz == nil {
		h.tz = time.UTC
	}
	return h
}

// withDefaults fills the zero fields of l with the service's limits.
func withDefaults(l SendLimits) SendLimits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.UserCalls, 100)
	def(&l.UserMessages, 6000)
	def(&l.GroupCalls, 20)
	def(&l.RoomCalls, 20)
	return l
}
