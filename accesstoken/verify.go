package accesstoken

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors of VerifyChatApp, besides those of Parse and Verify.
var (
	// ErrWrongAppID reports a well-formed token issued for another App ID.
	ErrWrongAppID = errors.New("accesstoken: token is for another app id")
	// ErrNotAppToken reports a token without the chat app privilege.
	ErrNotAppToken = errors.New("accesstoken: not a chat app token")
)

// VerifyChatApp is the check a server makes of a bearer token: tok must
// parse, be issued for appID (compared without regard to case), be signed
// with appCert, carry the chat app privilege, and neither the token nor
// that privilege may have expired at now. The error wraps ErrMalformed,
// ErrWrongAppID, ErrInvalidCertificate, ErrBadSignature, ErrNotAppToken or
// ErrExpired; errors.Is(err, ErrExpired) tells an expired token from a
// corrupt or foreign one. Error text never includes the token or the
// certificate.
func VerifyChatApp(tok, appID, appCert string, now time.Time) (*Token, error) {
	t, err := Parse(tok)
	if err != nil {
		return nil, err
	}
	if !equalFoldASCII(t.AppID, appID) {
		return nil, ErrWrongAppID
	}
	// Signature before expiry, so that a forged token is never told apart
	// from a real one by the expiry answer.
	if err := t.Verify(appCert, now); err != nil {
		return nil, err
	}
	exp, ok := t.Privilege(ServiceChat, PrivilegeChatApp)
	if !ok {
		return nil, ErrNotAppToken
	}
	if !now.Before(exp) {
		return nil, fmt.Errorf("%w: chat app privilege at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// equalFoldASCII compares two strings ignoring ASCII case (App IDs are hex).
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// NewHex32 returns 32 random lowercase hex characters, the shape of an App
// ID and of an App Certificate, for emulators and tests that need their own.
func NewHex32() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics on failure)
	return hex.EncodeToString(b[:])
}

// String, GoString and LogValue show the App ID only, never the
// certificate or a token, so a Source can be printed or logged safely.
func (s *Source) String() string { return "accesstoken.Source(" + s.appID + ")" }

// GoString implements fmt.GoStringer like String.
func (s *Source) GoString() string { return s.String() }

// LogValue implements slog.LogValuer like String.
func (s *Source) LogValue() slog.Value { return slog.StringValue(s.String()) }
