package accesstoken

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyChatApp(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	appID, cert := NewHex32(), NewHex32()
	good, err := BuildChatAppToken(appID, cert, now, 7, time.Hour)
	require.NoError(t, err)
	foreign, err := BuildChatAppToken(NewHex32(), cert, now, 7, time.Hour)
	require.NoError(t, err)
	user, err := BuildChatUserToken(appID, cert, "alice", now, 7, time.Hour)
	require.NoError(t, err)
	// The privilege lapses before the token does.
	short := NewChatAppToken(appID, uint32(now.Unix()), 3600, 9)
	short.Services[0].Privileges[0].Expire = 60
	shortTok, err := short.Build(cert)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		tok  string
		cert string
		at   time.Time
		want error
	}{
		{"valid", good, cert, now.Add(time.Minute), nil},
		{"upper-case app id", good, cert, now, nil},
		{"expired", good, cert, now.Add(time.Hour), ErrExpired},
		{"other certificate", good, NewHex32(), now, ErrBadSignature},
		{"other certificate, expired", good, NewHex32(), now.Add(2 * time.Hour), ErrBadSignature},
		{"other app id", foreign, cert, now, ErrWrongAppID},
		{"user token", user, cert, now, ErrNotAppToken},
		{"privilege expired", shortTok, cert, now.Add(2 * time.Minute), ErrExpired},
		{"garbage", "007garbage", cert, now, ErrMalformed},
		{"empty", "", cert, now, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := appID
			if tc.name == "upper-case app id" {
				id = strings.ToUpper(appID)
			}
			tok, err := VerifyChatApp(tc.tok, id, tc.cert, tc.at)
			if tc.want == nil {
				require.NoError(t, err)
				assert.True(t, tok.HasChatApp())
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.NotContains(t, err.Error(), cert)
			if len(tc.tok) > 10 {
				assert.NotContains(t, err.Error(), tc.tok)
			}
		})
	}
}

func TestNewHex32(t *testing.T) {
	a, b := NewHex32(), NewHex32()
	assert.True(t, validHex32(a))
	assert.NotEqual(t, a, b)
}

func TestSourceRedacts(t *testing.T) {
	s, _, _ := newTestSource(t, SourceOptions{Cert: vecCert})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%#v", s), fmt.Sprintf("%v", s)} {
		assert.NotContains(t, out, vecCert)
		assert.Contains(t, out, vecAppID)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "source", s)
	assert.NotContains(t, b.String(), vecCert)
}
