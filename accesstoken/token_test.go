package accesstoken

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The published AccessToken2 chat app token vector (AgoraIO/Tools).
const (
	vecAppID   = "970CA35de60c44645bbae8a215061b33"
	vecCert    = "5CFd2fd1755d40ecb72977518be15d3b"
	vecIssueTs = 1111111
	vecSalt    = 1
	vecExpire  = 600
	vecToken   = "007eJxSYNDNaz3snC8huEfHWdz6s98qltq4zqy9fl99Uh0FDvy6F6DAYGlu4OxobJqSamaQbGJiZmKalJSYapFoZGhqYGaYZGzs/kWAIYKJgYGRAYRZGRgZmMB8BgZAAAAA//+t8hhr"
)

func TestVector(t *testing.T) {
	got, err := NewChatAppToken(vecAppID, vecIssueTs, vecExpire, vecSalt).Build(vecCert)
	require.NoError(t, err)

	want, err := inflate(vecToken)
	require.NoError(t, err)
	gotPayload, err := inflate(got)
	require.NoError(t, err)
	assert.Equal(t, want, gotPayload, "decoded payloads must match the published vector")
	// The vector was made by Go's compress/zlib at the default level, so the
	// string itself is reproduced byte for byte.
	assert.Equal(t, vecToken, got)

	// Same token through the time-based builder.
	got2, err := BuildChatAppToken(vecAppID, vecCert, time.Unix(vecIssueTs, 0), vecSalt, vecExpire*time.Second)
	require.NoError(t, err)
	assert.Equal(t, vecToken, got2)

	tok, err := Parse(vecToken)
	require.NoError(t, err)
	assert.Equal(t, vecAppID, tok.AppID)
	assert.EqualValues(t, vecIssueTs, tok.IssueTs)
	assert.EqualValues(t, vecExpire, tok.Expire)
	assert.EqualValues(t, vecSalt, tok.Salt)
	assert.Equal(t, []Service{{Type: ServiceChat, Privileges: []Privilege{{ID: PrivilegeChatApp, Expire: vecExpire}}}}, tok.Services)
	assert.True(t, tok.HasChatApp())
	assert.Equal(t, time.Unix(vecIssueTs+vecExpire, 0), tok.ExpiresAt())
	assert.NoError(t, tok.Verify(vecCert, time.Unix(vecIssueTs+10, 0)))
}

func TestRoundTrip(t *testing.T) {
	issue := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		build   func() (string, error)
		app     bool
		user    string
		life    time.Duration
		wantErr error
	}{
		{"app", func() (string, error) { return BuildChatAppToken(vecAppID, vecCert, issue, 42, time.Hour) }, true, "", time.Hour, nil},
		{"user", func() (string, error) {
			return BuildChatUserToken(vecAppID, vecCert, "alice", issue, 7, 24*time.Hour)
		}, false, "alice", 24 * time.Hour, nil},
		{"bad app id", func() (string, error) { return BuildChatAppToken("xyz", vecCert, issue, 1, time.Hour) }, false, "", 0, ErrInvalidAppID},
		{"bad cert", func() (string, error) {
			return BuildChatAppToken(vecAppID, "5CFd2fd1755d40ecb72977518be15d3g", issue, 1, time.Hour)
		}, false, "", 0, ErrInvalidCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.build()
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.NotContains(t, err.Error(), vecCert[:8])
				return
			}
			require.NoError(t, err)
			tok, err := Parse(s)
			require.NoError(t, err)
			assert.Equal(t, vecAppID, tok.AppID)
			assert.Equal(t, issue, tok.IssuedAt())
			assert.Equal(t, issue.Add(tc.life), tok.ExpiresAt())
			assert.Equal(t, tc.app, tok.HasChatApp())
			u, ok := tok.ChatUser()
			assert.Equal(t, !tc.app, ok)
			assert.Equal(t, tc.user, u)
			exp, ok := tok.Privilege(ServiceChat, map[bool]uint16{true: PrivilegeChatApp, false: PrivilegeChatUser}[tc.app])
			assert.True(t, ok)
			assert.Equal(t, issue.Add(tc.life), exp)
			assert.NoError(t, tok.Verify(vecCert, issue.Add(tc.life-time.Second)))
		})
	}
}

func TestBuildRejects(t *testing.T) {
	issue := time.Unix(1_700_000_000, 0)
	_, err := BuildChatAppToken(vecAppID, vecCert, issue, 1, 25*time.Hour)
	assert.Error(t, err)
	_, err = BuildChatAppToken(vecAppID, vecCert, issue, 1, 0)
	assert.Error(t, err)
	_, err = BuildChatAppToken(vecAppID, vecCert, time.Unix(-5, 0), 1, time.Hour)
	assert.Error(t, err)
	_, err = BuildChatUserToken(vecAppID, vecCert, "", issue, 1, time.Hour)
	assert.Error(t, err)
	dup := NewChatAppToken(vecAppID, 1, 1, 1)
	dup.Services = append(dup.Services, dup.Services[0])
	_, err = dup.Build(vecCert)
	assert.Error(t, err)
	unknown := &Token{AppID: vecAppID, Services: []Service{{Type: 99}}}
	_, err = unknown.Build(vecCert)
	assert.Error(t, err)
}

func TestVerify(t *testing.T) {
	tok, err := Parse(vecToken)
	require.NoError(t, err)
	exp := time.Unix(vecIssueTs+vecExpire, 0)
	tests := []struct {
		name string
		cert string
		now  time.Time
		want error
	}{
		{"valid", vecCert, exp.Add(-time.Second), nil},
		{"expired at expiry", vecCert, exp, ErrExpired},
		{"expired later", vecCert, exp.Add(time.Hour), ErrExpired},
		{"wrong cert", "5CFd2fd1755d40ecb72977518be15d3c", exp.Add(-time.Second), ErrBadSignature},
		{"cert case matters", strings.ToLower(vecCert), exp.Add(-time.Second), ErrBadSignature},
		{"invalid cert", "short", exp.Add(-time.Second), ErrInvalidCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tok.Verify(tc.cert, tc.now)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
	assert.ErrorIs(t, NewChatAppToken(vecAppID, 1, 1, 1).Verify(vecCert, time.Unix(0, 0)), ErrMalformed)
}

// deflate wraps payload as a token, for crafting malformed inputs.
func deflate(payload []byte) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write(payload)
	w.Close()
	return Version + base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestParseMalformed(t *testing.T) {
	good, err := inflate(vecToken)
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(vecToken[3:])
	require.NoError(t, err)
	corrupt := bytes.Clone(raw)
	corrupt[len(corrupt)-1] ^= 0xff // Adler-32 mismatch

	tests := []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"prefix only", "007"},
		{"wrong version", "006" + vecToken[3:]},
		{"bad base64", "007!!!!"},
		{"base64 not zlib", "007" + base64.StdEncoding.EncodeToString([]byte("hello world"))},
		{"truncated base64", vecToken[:len(vecToken)-5]},
		{"truncated zlib", "007" + base64.StdEncoding.EncodeToString(raw[:len(raw)-6])},
		{"bad checksum", "007" + base64.StdEncoding.EncodeToString(corrupt)},
		{"empty payload", deflate(nil)},
		{"short signature", deflate(append([]byte{2, 0, 1, 2}, good[34:]...))},
		{"trailing byte", deflate(append(bytes.Clone(good), 0))},
		{"string past end", deflate([]byte{0xff, 0xff, 1})},
		{"zlib bomb", deflate(make([]byte, MaxInflatedSize+1))},
		{"huge service count", deflate(append(bytes.Clone(good[:34+34+12]), 0xff, 0xff))},
		{"unknown service", deflate(append(bytes.Clone(good[:34+34+12]), 1, 0, 9, 0, 0, 0))},
		{"huge privilege count", deflate(append(bytes.Clone(good[:34+34+12]), 1, 0, 5, 0, 0xff, 0xff))},
		{"too long", Version + strings.Repeat("A", 4*MaxInflatedSize+4)},
	}
	for i := 1; i < len(good); i++ {
		tests = append(tests, struct{ name, tok string }{"cut payload", deflate(good[:i])})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Parse(tc.tok)
			assert.Nil(t, tok)
			assert.True(t, errors.Is(err, ErrMalformed), "err = %v", err)
		})
	}
}

func TestParseOtherServices(t *testing.T) {
	rtc := []byte{3, 0, 'a', 'b', 'c', 1, 0, '7'}
	edu := []byte{1, 0, 'r', 1, 0, 'u', 0xff, 0xff}
	in := &Token{AppID: vecAppID, IssueTs: 10, Expire: 20, Salt: 3, Services: []Service{
		{Type: ServiceEducation, Extra: edu},
		{Type: ServiceChat, UserID: "bob", Privileges: []Privilege{{ID: 2, Expire: 5}, {ID: 1, Expire: 9}}},
		{Type: ServiceFPA, Privileges: []Privilege{{ID: 1}}},
		{Type: ServiceRTM, UserID: "x"},
		{Type: ServiceRTC, Extra: rtc},
	}}
	s, err := in.Build(vecCert)
	require.NoError(t, err)
	tok, err := Parse(s)
	require.NoError(t, err)
	require.Len(t, tok.Services, 5)
	for i, typ := range []uint16{ServiceRTC, ServiceRTM, ServiceFPA, ServiceChat, ServiceEducation} {
		assert.Equal(t, typ, tok.Services[i].Type)
	}
	assert.Equal(t, rtc, tok.Service(ServiceRTC).Extra)
	assert.Equal(t, edu, tok.Service(ServiceEducation).Extra)
	assert.Equal(t, []Privilege{{ID: 1, Expire: 9}, {ID: 2, Expire: 5}}, tok.Service(ServiceChat).Privileges)
	assert.NoError(t, tok.Verify(vecCert, time.Unix(29, 0)))
	assert.ErrorIs(t, tok.Verify(vecCert, time.Unix(30, 0)), ErrExpired)

	bad := &Token{AppID: vecAppID, Services: []Service{{Type: ServiceRTC, Extra: []byte{9}}}}
	_, err = bad.Build(vecCert)
	assert.Error(t, err)
}
