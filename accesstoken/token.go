// Package accesstoken builds, parses and verifies Agora AccessToken2 ("007")
// tokens, the app and user tokens of Agora Chat, Shengwang IM and Easemob,
// and provides Source, a token source that generates chat app tokens locally
// from an App ID and App Certificate.
//
// # Format
//
// A token is
//
//	"007" + base64std(zlib(str(signature) ‖ signingInfo))
//
// where every integer is little-endian, str(x) is a uint16 byte length then
// the bytes, and
//
//	signingInfo = str(appId) ‖ u32 issueTs ‖ u32 expire ‖ u32 salt ‖
//	              u16 serviceCount ‖ service…
//	service     = u16 type ‖ u16 privilegeCount ‖ (u16 privilege ‖ u32 expire)… ‖ fields
//
// Services appear in ascending type order and privileges in ascending
// privilege order. The service-specific fields are str(userId) for chat
// (type 5) and RTM (type 2), str(channel) ‖ str(uid) for RTC (type 1),
// nothing for FPA (type 4) and str(room) ‖ str(user) ‖ i16 role for
// education (type 7). Other service types cannot be parsed, because the
// length of their fields is not recorded.
//
// expire and every privilege expire are lifetimes in seconds counted from
// issueTs, not absolute times: the token is valid until issueTs+expire.
//
// The signature is HMAC-SHA256(key=signing, msg=signingInfo) with
//
//	signing = HMAC-SHA256(key=u32(salt), msg=HMAC-SHA256(key=u32(issueTs), msg=appCertificate))
//
// where appCertificate is used as its 32 ASCII characters, not hex-decoded.
// A chat app token carries service 5 with privilege 2 (chat app) and an
// empty user id; a chat user token carries privilege 1 (chat user) and the
// user's id. Chat tokens live at most 24 hours.
package accesstoken

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Version is the prefix of every AccessToken2 token.
const Version = "007"

// Service types and chat privileges defined by AccessToken2.
const (
	ServiceRTC       uint16 = 1 // real-time communication
	ServiceRTM       uint16 = 2 // real-time messaging
	ServiceFPA       uint16 = 4 // flexible proxy acceleration
	ServiceChat      uint16 = 5 // Agora Chat / Shengwang IM / Easemob
	ServiceEducation uint16 = 7 // flexible classroom

	PrivilegeChatUser uint16 = 1 // chat user token
	PrivilegeChatApp  uint16 = 2 // chat app token (REST API administration)
)

// MaxInflatedSize bounds the decompressed payload Parse accepts; real tokens
// are a few hundred bytes, so anything larger is refused as malformed.
const MaxInflatedSize = 64 << 10

// signatureSize is the length of an HMAC-SHA256 signature.
const signatureSize = sha256.Size

// Errors returned by this package; test with errors.Is.
var (
	// ErrMalformed reports a token that cannot be decoded.
	ErrMalformed = errors.New("accesstoken: malformed token")
	// ErrBadSignature reports a token not signed with the given certificate.
	ErrBadSignature = errors.New("accesstoken: bad signature")
	// ErrExpired reports a token past its expiry.
	ErrExpired = errors.New("accesstoken: token expired")
	// ErrInvalidAppID reports an App ID that is not 32 hex characters.
	ErrInvalidAppID = errors.New("accesstoken: app id must be 32 hex characters")
	// ErrInvalidCertificate reports an App Certificate that is not 32 hex
	// characters. The certificate itself never appears in error text.
	ErrInvalidCertificate = errors.New("accesstoken: app certificate must be 32 hex characters")
)

// Privilege is one privilege of a service and its lifetime.
type Privilege struct {
	ID     uint16 // e.g. PrivilegeChatApp
	Expire uint32 // lifetime in seconds counted from the token's IssueTs
}

// Service is one service of a token with its privileges.
type Service struct {
	Type       uint16      // e.g. ServiceChat
	Privileges []Privilege // ascending ID order when encoded
	// UserID is the user id of chat and RTM services; empty in app tokens.
	UserID string
	// Extra holds the raw service-specific fields of RTC, FPA and education
	// services, which this package carries but does not interpret.
	Extra []byte
}

// Token is a decoded AccessToken2. Build encodes it; Parse decodes one.
type Token struct {
	AppID    string
	IssueTs  uint32 // issue time, Unix seconds
	Expire   uint32 // lifetime in seconds counted from IssueTs
	Salt     uint32
	Services []Service // ascending Type order when encoded

	// Set by Parse: the signature and the exact bytes it covers, so that
	// Verify checks the token as received.
	signature   []byte
	signingInfo []byte
}

// validHex32 reports whether s is 32 hexadecimal characters (any case).
func validHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// encode returns the signing info of t in canonical order.
func (t *Token) encode() ([]byte, error) {
	if len(t.Services) > 0xffff {
		return nil, errors.New("accesstoken: too many services")
	}
	svcs := slices.Clone(t.Services)
	slices.SortFunc(svcs, func(a, b Service) int { return int(a.Type) - int(b.Type) })
	b, err := appendStr(nil, t.AppID)
	if err != nil {
		return nil, fmt.Errorf("accesstoken: app id: %w", err)
	}
	b = appendU32(b, t.IssueTs)
	b = appendU32(b, t.Expire)
	b = appendU32(b, t.Salt)
	b = appendU16(b, uint16(len(svcs)))
	for i, s := range svcs {
		if i > 0 && svcs[i-1].Type == s.Type {
			return nil, fmt.Errorf("accesstoken: duplicate service type %d", s.Type)
		}
		if b, err = s.encode(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (s *Service) encode(b []byte) ([]byte, error) {
	if len(s.Privileges) > 0xffff {
		return nil, errors.New("accesstoken: too many privileges")
	}
	ps := slices.Clone(s.Privileges)
	slices.SortFunc(ps, func(a, b Privilege) int { return int(a.ID) - int(b.ID) })
	b = appendU16(b, s.Type)
	b = appendU16(b, uint16(len(ps)))
	for i, p := range ps {
		if i > 0 && ps[i-1].ID == p.ID {
			return nil, fmt.Errorf("accesstoken: service %d: duplicate privilege %d", s.Type, p.ID)
		}
		b = appendU32(appendU16(b, p.ID), p.Expire)
	}
	switch s.Type {
	case ServiceChat, ServiceRTM:
		if len(s.Extra) > 0 {
			return nil, fmt.Errorf("accesstoken: service %d takes UserID, not Extra", s.Type)
		}
		var err error
		if b, err = appendStr(b, s.UserID); err != nil {
			return nil, fmt.Errorf("accesstoken: user id: %w", err)
		}
		return b, nil
	case ServiceRTC, ServiceFPA, ServiceEducation:
		if s.UserID != "" {
			return nil, fmt.Errorf("accesstoken: service %d has no UserID", s.Type)
		}
		// Check that Extra is exactly this service's fields, so that the
		// token stays parseable.
		r := &reader{b: s.Extra}
		decodeExtra(r, s.Type)
		if r.err != nil || r.remaining() != 0 {
			return nil, fmt.Errorf("accesstoken: service %d: Extra does not hold its fields", s.Type)
		}
		return append(b, s.Extra...), nil
	}
	return nil, fmt.Errorf("accesstoken: unknown service type %d", s.Type)
}

// decodeExtra consumes the fields of a service type without a UserID.
func decodeExtra(r *reader, typ uint16) {
	switch typ {
	case ServiceRTC:
		r.bytes("rtc channel name")
		r.bytes("rtc uid")
	case ServiceEducation:
		r.bytes("education room")
		r.bytes("education user")
		r.take(2, "education role")
	}
}

// signingKey derives the HMAC key from the certificate, issue time and salt.
func signingKey(appCert string, issueTs, salt uint32) []byte {
	h := hmac.New(sha256.New, binary.LittleEndian.AppendUint32(nil, issueTs))
	h.Write([]byte(appCert))
	inner := h.Sum(nil)
	h = hmac.New(sha256.New, binary.LittleEndian.AppendUint32(nil, salt))
	h.Write(inner)
	return h.Sum(nil)
}

func sign(appCert string, issueTs, salt uint32, info []byte) []byte {
	h := hmac.New(sha256.New, signingKey(appCert, issueTs, salt))
	h.Write(info)
	return h.Sum(nil)
}

// Build signs t with appCert and returns the token string. It is the
// low-level builder: IssueTs, Expire and Salt are used exactly as given.
// Services and privileges are encoded in ascending order.
func (t *Token) Build(appCert string) (string, error) {
	if !validHex32(t.AppID) {
		return "", ErrInvalidAppID
	}
	if !validHex32(appCert) {
		return "", ErrInvalidCertificate
	}
	info, err := t.encode()
	if err != nil {
		return "", err
	}
	payload, _ := appendStr(nil, string(sign(appCert, t.IssueTs, t.Salt, info)))
	payload = append(payload, info...)

	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	if _, err := w.Write(payload); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return Version + base64.StdEncoding.EncodeToString(z.Bytes()), nil
}

// inflate decodes the base64 and zlib layers of tok and returns the payload,
// refusing payloads larger than MaxInflatedSize.
func inflate(tok string) ([]byte, error) {
	if len(tok) < len(Version) || tok[:len(Version)] != Version {
		return nil, fmt.Errorf("%w: not a %q token", ErrMalformed, Version)
	}
	// Base64 expands by 4/3 and zlib cannot shrink input below ~1/1032, so
	// this bound refuses absurd inputs before decoding them.
	if len(tok) > 4*MaxInflatedSize {
		return nil, fmt.Errorf("%w: token too long", ErrMalformed)
	}
	raw, err := base64.StdEncoding.DecodeString(tok[len(Version):])
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
	}
	defer zr.Close()
	// ReadAll reads to EOF, which is where zlib checks the Adler-32 sum.
	out, err := io.ReadAll(io.LimitReader(zr, MaxInflatedSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
	}
	if len(out) > MaxInflatedSize {
		return nil, fmt.Errorf("%w: payload larger than %d bytes", ErrMalformed, MaxInflatedSize)
	}
	return out, nil
}

// Parse decodes tok without verifying its signature or expiry; call Verify
// for that. Every malformed input gives an error wrapping ErrMalformed.
func Parse(tok string) (*Token, error) {
	payload, err := inflate(tok)
	if err != nil {
		return nil, err
	}
	return decode(payload)
}

// decode parses an inflated payload: str(signature) ‖ signingInfo.
func decode(payload []byte) (*Token, error) {
	r := &reader{b: payload}
	sig := r.bytes("signature")
	if r.err == nil && len(sig) != signatureSize {
		r.fail("signature is %d bytes, want %d", len(sig), signatureSize)
	}
	start := r.off
	t := &Token{
		AppID:   r.str("app id"),
		IssueTs: r.u32("issue time"),
		Expire:  r.u32("expire"),
		Salt:    r.u32("salt"),
	}
	n := r.u16("service count")
	for i := 0; i < int(n) && r.err == nil; i++ {
		s := Service{Type: r.u16("service type")}
		np := r.u16("privilege count")
		for j := 0; j < int(np) && r.err == nil; j++ {
			s.Privileges = append(s.Privileges, Privilege{ID: r.u16("privilege"), Expire: r.u32("privilege expire")})
		}
		switch s.Type {
		case ServiceChat, ServiceRTM:
			s.UserID = r.str("user id")
		case ServiceRTC, ServiceFPA, ServiceEducation:
			from := r.off
			decodeExtra(r, s.Type)
			if r.err == nil && r.off > from {
				s.Extra = slices.Clone(r.b[from:r.off])
			}
		default:
			r.fail("unknown service type %d", s.Type)
		}
		t.Services = append(t.Services, s)
	}
	if r.err == nil && r.remaining() != 0 {
		r.fail("%d trailing bytes", r.remaining())
	}
	if r.err != nil {
		return nil, r.err
	}
	t.signature = slices.Clone(sig)
	t.signingInfo = slices.Clone(payload[start:])
	return t, nil
}
