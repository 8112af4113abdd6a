package accesstoken

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/chatfs/chatfs/internal/smallfile"
)

// ErrRenewTooSoon is returned (wrapped, with a hint at what to check) by
// Source.Renew and by remote.ClientCredentials.Renew when the token they
// are asked to replace was itself renewed less than RenewInterval ago: the
// server keeps refusing fresh tokens, so asking for more would only loop
// (and the service bans accounts that ask for tokens too often).
var ErrRenewTooSoon = errors.New("token refused again right after renewal")

// Defaults and bounds of SourceOptions.
const (
	DefaultRenewInterval = time.Minute
	MinSourceLifetime    = time.Minute
	maxCertFileSize      = 4 << 10
)

// SourceOptions configures NewSource.
type SourceOptions struct {
	// AppID is the App ID, 32 hex characters.
	AppID string
	// Cert is the App Certificate itself. Exactly one of Cert and CertFile
	// is set.
	Cert string
	// CertFile names a file holding the App Certificate (surrounding white
	// space is ignored). It is read by NewSource and re-read by Renew, so a
	// rotated certificate is picked up without a restart.
	CertFile string
	// Lifetime of each generated token: default and maximum 24h, minimum
	// one minute.
	Lifetime time.Duration
	// RenewInterval is the least time between two renewals forced by
	// Renew for the token Renew itself produced; default one minute.
	RenewInterval time.Duration
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Logger receives generation events; never the token or certificate.
	Logger *slog.Logger
}

// Source generates chat app tokens locally from an App ID and App
// Certificate. It has the method set of remote.TokenSource and is safe for
// concurrent use.
//
// Renewal is lazy: Token returns the cached token until half its lifetime
// has passed, then generates a new one on the call that notices. There is
// no background goroutine; generation is a few HMACs, so a caller never
// waits on the network for it.
type Source struct {
	appID    string
	certFile string
	lifetime time.Duration
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu        sync.Mutex
	cert      string
	tok       string
	issued    time.Time // issue time of tok, whole seconds
	renewed   string    // the token last produced by Renew
	renewedAt time.Time
}

// NewSource validates opts, reads the certificate and returns a Source.
// When CertFile is group or world readable it logs a warning.
func NewSource(opts SourceOptions) (*Source, error) {
	s := &Source{
		appID:    opts.AppID,
		certFile: opts.CertFile,
		lifetime: opts.Lifetime,
		interval: opts.RenewInterval,
		now:      opts.Now,
		log:      opts.Logger,
	}
	if s.lifetime == 0 {
		s.lifetime = MaxChatLifetime
	}
	if s.lifetime < MinSourceLifetime || s.lifetime > MaxChatLifetime {
		return nil, fmt.Errorf("accesstoken: token lifetime %v outside %v..%v", s.lifetime, MinSourceLifetime, MaxChatLifetime)
	}
	if s.interval <= 0 {
		s.interval = DefaultRenewInterval
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if !validHex32(opts.AppID) {
		return nil, ErrInvalidAppID
	}
	switch {
	case (opts.Cert == "") == (opts.CertFile == ""):
		return nil, errors.New("accesstoken: set exactly one of Cert and CertFile")
	case opts.Cert != "":
		if !validHex32(opts.Cert) {
			return nil, ErrInvalidCertificate
		}
		s.cert = opts.Cert
	default:
		warn, err := CheckSecretFile(opts.CertFile)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			s.log.Warn(warn)
		}
		if s.cert, err = ReadCertFile(opts.CertFile); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Token returns the current token, generating a new one when there is none
// yet, when half its lifetime has passed, or when the clock went back
// before its issue time.
func (s *Source) Token(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.fresh(now) {
		return s.tok, nil
	}
	return s.generate(now, "half-life")
}

// Renew is called after the server refused token bad. When bad is no longer
// the current token (another caller renewed already, or the half-life
// passed) it returns the current, fresh token. Otherwise it re-reads
// CertFile, in case the certificate was rotated, and generates a new token,
// once: if bad is itself the token Renew produced less than RenewInterval
// ago, it returns ErrRenewTooSoon instead, so that a server that refuses
// every token does not make callers loop.
func (s *Source) Renew(ctx context.Context, bad string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if bad != s.tok {
		if s.fresh(now) {
			return s.tok, nil
		}
		return s.generate(now, "half-life")
	}
	if s.tok != "" && s.tok == s.renewed {
		if since := now.Sub(s.renewedAt); since >= 0 && since < s.interval {
			s.log.Warn("app token refused right after renewal; not renewing again yet",
				"app_id", s.appID, "retry_after", (s.interval - since).Round(time.Second))
			return "", fmt.Errorf("accesstoken: %w; check the app id and certificate", ErrRenewTooSoon)
		}
	}
	if s.certFile != "" {
		cert, err := ReadCertFile(s.certFile)
		if err != nil {
			return "", err
		}
		if cert != s.cert {
			s.log.Info("app certificate changed on disk", "app_id", s.appID, "file", s.certFile)
			s.cert = cert
		}
	}
	tok, err := s.generate(now, "refused by server")
	if err != nil {
		return "", err
	}
	s.renewed, s.renewedAt = tok, now
	return tok, nil
}

// fresh reports whether the cached token can still be handed out at now.
func (s *Source) fresh(now time.Time) bool {
	if s.tok == "" || now.Before(s.issued) {
		return false
	}
	return now.Sub(s.issued) < s.lifetime/2
}

// generate builds a new token issued at now and caches it. Called with mu held.
func (s *Source) generate(now time.Time, reason string) (string, error) {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics on failure)
	tok, err := BuildChatAppToken(s.appID, s.cert, now, binary.LittleEndian.Uint32(b[:]), s.lifetime)
	if err != nil {
		return "", err
	}
	s.tok = tok
	s.issued = time.Unix(now.Unix(), 0)
	s.log.Info("generated chat app token", "app_id", s.appID, "reason", reason,
		"expires", s.issued.Add(s.lifetime).UTC().Format(time.RFC3339))
	return tok, nil
}

// CheckSecretFile checks that path is a regular file and returns a warning,
// for the caller to log, when group or others may access it (mode & 0o077).
// The file's content is not read. Permission bits are not checked on
// Windows.
func CheckSecretFile(path string) (warning string, err error) {
	warning, err = smallfile.CheckPrivate(path)
	if err != nil {
		return "", fmt.Errorf("accesstoken: %w", err)
	}
	return warning, nil
}

// ReadCertFile reads an App Certificate from path: white space around it is
// ignored and the rest must be 32 hex characters. Errors never include the
// file's content.
func ReadCertFile(path string) (string, error) {
	b, _, err := smallfile.Read(path, maxCertFileSize)
	if errors.Is(err, smallfile.ErrTooLarge) {
		return "", fmt.Errorf("%s: %w", path, ErrInvalidCertificate)
	}
	if err != nil {
		return "", fmt.Errorf("accesstoken: %w", err)
	}
	cert := strings.TrimSpace(string(b))
	if !validHex32(cert) {
		return "", fmt.Errorf("%s: %w", path, ErrInvalidCertificate)
	}
	return cert, nil
}
