package accesstoken

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxChatLifetime is the longest lifetime the chat service accepts.
const MaxChatLifetime = 24 * time.Hour

// NewChatAppToken returns an unsigned chat app token (service 5, privilege
// 2, empty user id) with explicit times in seconds; sign it with Build.
func NewChatAppToken(appID string, issueTs, expire, salt uint32) *Token {
	return &Token{AppID: appID, IssueTs: issueTs, Expire: expire, Salt: salt,
		Services: []Service{{Type: ServiceChat, Privileges: []Privilege{{ID: PrivilegeChatApp, Expire: expire}}}}}
}

// NewChatUserToken returns an unsigned chat user token (service 5,
// privilege 1, the given user id) with explicit times in seconds; sign it
// with Build.
func NewChatUserToken(appID, userID string, issueTs, expire, salt uint32) *Token {
	return &Token{AppID: appID, IssueTs: issueTs, Expire: expire, Salt: salt,
		Services: []Service{{Type: ServiceChat, UserID: userID, Privileges: []Privilege{{ID: PrivilegeChatUser, Expire: expire}}}}}
}

// chatTimes converts an issue time and lifetime to token fields. The
// lifetime is truncated to whole seconds and must be 1s..MaxChatLifetime.
func chatTimes(issue time.Time, lifetime time.Duration) (issueTs, expire uint32, err error) {
	if lifetime < time.Second || lifetime > MaxChatLifetime {
		return 0, 0, fmt.Errorf("accesstoken: lifetime %v outside 1s..%v", lifetime, MaxChatLifetime)
	}
	sec := issue.Unix()
	if sec < 0 || sec+int64(lifetime/time.Second) > math.MaxUint32 {
		return 0, 0, fmt.Errorf("accesstoken: issue time %v not representable", issue)
	}
	return uint32(sec), uint32(lifetime / time.Second), nil
}

// BuildChatAppToken builds a chat app token issued at issue (truncated to
// the second) and valid for lifetime (1s to 24h, truncated to the second).
func BuildChatAppToken(appID, appCert string, issue time.Time, salt uint32, lifetime time.Duration) (string, error) {
	its, exp, err := chatTimes(issue, lifetime)
	if err != nil {
		return "", err
	}
	return NewChatAppToken(appID, its, exp, salt).Build(appCert)
}

// BuildChatUserToken builds a chat user token for userID (non-empty),
// issued at issue and valid for lifetime, as BuildChatAppToken.
func BuildChatUserToken(appID, appCert, userID string, issue time.Time, salt uint32, lifetime time.Duration) (string, error) {
	if userID == "" {
		return "", errors.New("accesstoken: empty user id")
	}
	its, exp, err := chatTimes(issue, lifetime)
	if err != nil {
		return "", err
	}
	return NewChatUserToken(appID, userID, its, exp, salt).Build(appCert)
}

// IssuedAt returns the token's issue time.
func (t *Token) IssuedAt() time.Time { return time.Unix(int64(t.IssueTs), 0) }

// ExpiresAt returns the time from which the token is no longer valid:
// IssueTs + Expire seconds.
func (t *Token) ExpiresAt() time.Time { return time.Unix(int64(t.IssueTs)+int64(t.Expire), 0) }

// Service returns the service of the given type, or nil.
func (t *Token) Service(typ uint16) *Service {
	for i := range t.Services {
		if t.Services[i].Type == typ {
			return &t.Services[i]
		}
	}
	return nil
}

// Privilege reports whether the token grants privilege priv of service typ
// and when that privilege expires (IssueTs + its Expire seconds).
func (t *Token) Privilege(typ, priv uint16) (expiresAt time.Time, ok bool) {
	s := t.Service(typ)
	if s == nil {
		return time.Time{}, false
	}
	for _, p := range s.Privileges {
		if p.ID == priv {
			return time.Unix(int64(t.IssueTs)+int64(p.Expire), 0), true
		}
	}
	return time.Time{}, false
}

// HasChatApp reports whether the token carries the chat app privilege.
func (t *Token) HasChatApp() bool {
	_, ok := t.Privilege(ServiceChat, PrivilegeChatApp)
	return ok
}

// ChatUser returns the user id of a token carrying the chat user privilege.
func (t *Token) ChatUser() (userID string, ok bool) {
	if _, ok := t.Privilege(ServiceChat, PrivilegeChatUser); !ok {
		return "", false
	}
	return t.Service(ServiceChat).UserID, true
}

// Verify checks that the token was signed with appCert and has not expired
// at now. It applies to tokens returned by Parse, and checks the token
// exactly as received (changing the fields afterwards changes nothing); a
// Token built in memory gives ErrMalformed. It returns an error wrapping ErrMalformed, ErrInvalidCertificate,
// ErrBadSignature or ErrExpired, in that order of checks. Privilege expiries
// are not checked; use Privilege for them.
func (t *Token) Verify(appCert string, now time.Time) error {
	if !validHex32(appCert) {
		return ErrInvalidCertificate
	}
	if !validHex32(t.AppID) {
		return fmt.Errorf("%w: %w", ErrMalformed, ErrInvalidAppID)
	}
	if t.signingInfo == nil {
		return fmt.Errorf("%w: token was not parsed", ErrMalformed)
	}
	want := sign(appCert, t.IssueTs, t.Salt, t.signingInfo)
	if !hmac.Equal(want, t.signature) {
		return ErrBadSignature
	}
	if !now.Before(t.ExpiresAt()) {
		return fmt.Errorf("%w at %s", ErrExpired, t.ExpiresAt().UTC().Format(time.RFC3339))
	}
	return nil
}
