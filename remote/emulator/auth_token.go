package emulator

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chatfs/chatfs/accesstoken"
)

// AllApps is the Options.Certificates key of the certificate used by every
// app that has no entry of its own.
const AllApps = "*"

// AppCertificate is the AccessToken2 identity an app's tokens are checked
// against: the App ID the token must name and the App Certificate it must
// be signed with. The App ID of AccessToken2 is not the org/app name of
// the Agora Chat URL shape, so it is given explicitly for those apps.
type AppCertificate struct {
	// AppID is 32 hex characters. Empty means the id of an "app-id/{ID}"
	// app key, which must then be 32 hex characters itself; an org/app app
	// with an empty AppID accepts no AccessToken2 token.
	AppID string
	// Cert is the App Certificate, 32 hex characters.
	Cert string
}

// Answers for refused tokens (DESIGN.md §1).
var (
	authExpired = &AuthError{Code: "unauthorized", Description: "Unable to authenticate due to expired access token"}
	authCorrupt = &AuthError{Code: "auth_bad_access_token", Description: "Unable to authenticate due to corrupt access token"}
)

// validHex32 reports whether s is 32 hex characters.
func validHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('0' <= s[i] && s[i] <= '9') && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// normalizeCertificates checks Options.Certificates and returns a copy keyed
// by app key (or AllApps). Error text never includes a certificate.
func normalizeCertificates(in map[string]AppCertificate) (map[string]AppCertificate, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]AppCertificate, len(in))
	for k, c := range in {
		key := k
		if k != AllApps {
			var ok bool
			if key, ok = normalizeAppKey(k); !ok {
				return nil, fmt.Errorf("emulator: certificate for %q: want \"app-id/ID\", \"org/app\" or %q", k, AllApps)
			}
		}
		if !validHex32(c.Cert) {
			return nil, fmt.Errorf("emulator: certificate for %q: %w", k, accesstoken.ErrInvalidCertificate)
		}
		if c.AppID != "" && !validHex32(c.AppID) {
			return nil, fmt.Errorf("emulator: certificate for %q: %w", k, accesstoken.ErrInvalidAppID)
		}
		if id, ok := strings.CutPrefix(key, "app-id/"); ok && c.AppID == "" && !validHex32(id) {
			return nil, fmt.Errorf("emulator: certificate for %q: the app id is not 32 hex characters, give the AccessToken2 App ID", k)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("emulator: two certificates for %q", key)
		}
		out[key] = c
	}
	return out, nil
}

// SetCertificate sets (or, with a zero AppCertificate, removes) the
// certificate of app ("app-id/ID", "org/app" or AllApps) while serving, as
// when an App Certificate is rotated in the console. Tokens signed with
// the old certificate are refused from then on.
func (s *Server) SetCertificate(app string, c AppCertificate) error {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	next := make(map[string]AppCertificate, len(s.certs)+1)
	for k, v := range s.certs {
		next[k] = v
	}
	if c == (AppCertificate{}) {
		delete(next, app)
		if app != AllApps {
			if key, ok := normalizeAppKey(app); ok {
				delete(next, key)
			}
		}
	} else {
		one, err := normalizeCertificates(map[string]AppCertificate{app: c})
		if err != nil {
			return err
		}
		for k, v := range one {
			next[k] = v
		}
	}
	s.certs = next
	return nil
}

// certFor returns the App ID and certificate that app's tokens must carry.
func (s *Server) certFor(app string) (appID, cert string, ok bool) {
	s.authMu.Lock()
	c, found := s.certs[app]
	if !found {
		c, found = s.certs[AllApps]
	}
	s.authMu.Unlock()
	if !found {
		return "", "", false
	}
	appID = c.AppID
	if appID == "" {
		appID, _ = strings.CutPrefix(app, "app-id/")
		if !strings.HasPrefix(app, "app-id/") || !validHex32(appID) {
			appID = "" // no AccessToken2 can name this app
		}
	}
	return appID, c.Cert, true
}

// hasCredentials reports whether certificates or client credentials are
// configured, in which case no static token is generated.
func (s *Server) hasCredentials() bool {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	return len(s.certs) > 0 || s.clientID != ""
}

// checkAuth is the default Authorize. A token issued by the token endpoint
// for app is accepted until it expires; otherwise an app with a certificate
// accepts only valid AccessToken2 chat app tokens for its App ID; other
// apps accept Options.Token. Expired tokens get the "unauthorized" answer,
// every other refusal the "auth_bad_access_token" one.
func (s *Server) checkAuth(app, token string) error {
	if token == "" {
		return authCorrupt
	}
	now := s.now()
	if exp, ok := s.issuedFor(app, token); ok {
		if !now.Before(exp) {
			return authExpired
		}
		return nil
	}
	if appID, cert, ok := s.certFor(app); ok {
		if appID == "" {
			return authCorrupt
		}
		_, err := accesstoken.VerifyChatApp(token, appID, cert, now)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, accesstoken.ErrExpired):
			return authExpired
		}
		return authCorrupt
	}
	if s.token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) == 1 {
		return nil
	}
	return authCorrupt
}

// issued is a token handed out by the token endpoint.
type issued struct {
	app     string
	expires time.Time
}

// issuedFor returns the expiry of token when the token endpoint issued it
// for app.
func (s *Server) issuedFor(app, token string) (time.Time, bool) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	it, ok := s.issued[token]
	if !ok || it.app != app {
		return time.Time{}, false
	}
	return it.expires, true
}
