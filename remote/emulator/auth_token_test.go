package emulator

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/accesstoken"
)

// bearer is the header map that sends tok.
func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func (e *env) requireExpired(a answer) {
	e.t.Helper()
	e.requireError(a, http.StatusUnauthorized, "unauthorized", "EasemobSecurityException",
		"Unable to authenticate due to expired access token")
}

func (e *env) requireCorrupt(a answer) {
	e.t.Helper()
	e.requireError(a, http.StatusUnauthorized, "auth_bad_access_token", "EasemobSecurityException",
		"Unable to authenticate due to corrupt access token")
}

func appToken(t *testing.T, appID, cert string, issue time.Time, life time.Duration) string {
	t.Helper()
	tok, err := accesstoken.BuildChatAppToken(appID, cert, issue, 1, life)
	require.NoError(t, err)
	return tok
}

func TestAccessTokenAuth(t *testing.T) {
	hexID, cert := accesstoken.NewHex32(), accesstoken.NewHex32()
	orgID, orgCert := accesstoken.NewHex32(), accesstoken.NewHex32()
	e := newEnv(t, Options{Certificates: map[string]AppCertificate{
		"app-id/" + hexID: {Cert: cert},
		"acme/chat":       {AppID: orgID, Cert: orgCert},
		"app-id/demo":     {AppID: hexID, Cert: cert}, // a non-hex app key maps to an App ID
	}})
	hexBase, orgBase := "/app-id/"+hexID, "/acme/chat"
	good := appToken(t, hexID, cert, e.now(), time.Hour)

	e.put(hexBase, []byte("x"), bearer(good))
	e.put("/app-id/demo", []byte("x"), bearer(good))
	e.put(orgBase, []byte("x"), bearer(appToken(t, orgID, orgCert, e.now(), time.Hour)))

	// The static token is refused where a certificate is configured, and
	// still accepted by other apps.
	e.requireCorrupt(e.upload(hexBase, "f", []byte("x"), nil))
	e.put("/app-id/other", []byte("x"), nil)

	for name, tok := range map[string]string{
		"other app id":       appToken(t, accesstoken.NewHex32(), cert, e.now(), time.Hour),
		"other certificate":  appToken(t, hexID, accesstoken.NewHex32(), e.now(), time.Hour),
		"org app's token":    appToken(t, orgID, orgCert, e.now(), time.Hour),
		"malformed":          "007" + good[10:],
		"user token":         mustUserToken(t, hexID, cert, e.now()),
		"not an AccessToken": "hello",
	} {
		t.Run(name, func(t *testing.T) { e.requireCorrupt(e.upload(hexBase, "f", []byte("x"), bearer(tok))) })
	}
	e.requireCorrupt(e.upload(orgBase, "f", []byte("x"), bearer(good)))

	// Expiry follows the emulator's clock.
	e.advance(time.Hour - time.Second)
	e.put(hexBase, []byte("x"), bearer(good))
	e.advance(time.Second)
	e.requireExpired(e.upload(hexBase, "f", []byte("x"), bearer(good)))
	e.requireExpired(e.get(hexBase, "00000000-0000-0000-0000-000000000000", bearer(good)))
	// An expired token with a bad signature is corrupt, not expired.
	e.requireCorrupt(e.upload(hexBase, "f", []byte("x"),
		bearer(appToken(t, hexID, accesstoken.NewHex32(), e.now().Add(-2*time.Hour), time.Hour))))
}

func mustUserToken(t *testing.T, appID, cert string, now time.Time) string {
	tok, err := accesstoken.BuildChatUserToken(appID, cert, "alice", now, 1, time.Hour)
	require.NoError(t, err)
	return tok
}

func TestAccessTokenAllApps(t *testing.T) {
	cert := accesstoken.NewHex32()
	e := newEnv(t, Options{Certificates: map[string]AppCertificate{AllApps: {Cert: cert}}})
	for range 2 {
		id := accesstoken.NewHex32()
		e.put("/app-id/"+id, []byte("x"), bearer(appToken(t, id, cert, e.now(), time.Hour)))
	}
	// An org/app app has no App ID under "*" without AppID: nothing passes.
	e.requireCorrupt(e.upload("/acme/chat", "f", []byte("x"), nil))
	e.requireCorrupt(e.upload("/app-id/demo", "f", []byte("x"), nil))
}

func TestSetCertificateRotates(t *testing.T) {
	id, oldCert, newCert := accesstoken.NewHex32(), accesstoken.NewHex32(), accesstoken.NewHex32()
	e := newEnv(t, Options{Certificates: map[string]AppCertificate{"app-id/" + id: {Cert: oldCert}}})
	base := "/app-id/" + id
	old := appToken(t, id, oldCert, e.now(), time.Hour)
	e.put(base, []byte("x"), bearer(old))
	require.NoError(t, e.srv.SetCertificate(base, AppCertificate{Cert: newCert}))
	e.requireCorrupt(e.upload(base, "f", []byte("x"), bearer(old)))
	e.put(base, []byte("x"), bearer(appToken(t, id, newCert, e.now(), time.Hour)))
	require.Error(t, e.srv.SetCertificate(base, AppCertificate{Cert: "short"}))
	// Removing it brings back the static token.
	require.NoError(t, e.srv.SetCertificate(base, AppCertificate{}))
	e.put(base, []byte("x"), nil)
}

func TestCertificateOptionsChecked(t *testing.T) {
	cert := accesstoken.NewHex32()
	for name, certs := range map[string]map[string]AppCertificate{
		"bad key":           {"nokey": {Cert: cert}},
		"bad cert":          {AllApps: {Cert: "nothex"}},
		"bad app id":        {AllApps: {AppID: "x", Cert: cert}},
		"non-hex key alone": {"app-id/demo": {Cert: cert}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Options{Dir: t.TempDir(), Certificates: certs})
			require.Error(t, err)
			assert.NotContains(t, err.Error(), cert)
		})
	}
}

func TestNoStaticTokenWithCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := New(Options{Dir: dir, Certificates: map[string]AppCertificate{AllApps: {Cert: accesstoken.NewHex32()}}})
	require.NoError(t, err)
	assert.Empty(t, s.Token())
	assert.NoFileExists(t, filepath.Join(dir, "token"))
}
