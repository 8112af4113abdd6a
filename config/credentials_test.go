package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hexID = "970CA35de60c44645bbae8a215061b33"

func TestCredentialKeys(t *testing.T) {
	c, err := Parse([]byte(`
[[app]]
host = "https://a1.easemob.com"
app_id = "` + hexID + `"
app_certificate_file = "/etc/chatfs/cert"
token_lifetime = "12h"

[[app]]
host = "https://a1.easemob.com"
org = "acme"
app = "chat"
app_certificate_file = "/etc/chatfs/cert2"
token_app_id = "` + hexID + `"

[[app]]
host = "https://a1.easemob.com"
org = "acme"
app = "other"
client_id = "YXA6id"
client_secret_file = "/etc/chatfs/secret"
`))
	require.NoError(t, err)
	assert.Equal(t, 12*time.Hour, c.Apps[0].TokenLifetime)
	assert.Equal(t, hexID, c.Apps[0].GeneratedAppID())
	assert.Equal(t, hexID, c.Apps[1].GeneratedAppID())
	assert.Equal(t, "YXA6id", c.Apps[2].ClientID)
}

func TestCredentialValidation(t *testing.T) {
	base := func() App { return App{Host: "https://h.example", AppID: hexID} }
	for name, tc := range map[string]struct {
		mod  func(*App)
		want string // "" for valid
	}{
		"none (CHATFS_TOKEN)": {func(*App) {}, ""},
		"token file":          {func(a *App) { a.TokenFile = "t" }, ""},
		"certificate":         {func(a *App) { a.AppCertificateFile = "c"; a.TokenLifetime = time.Hour }, ""},
		"client":              {func(a *App) { a.ClientID = "id"; a.ClientSecretFile = "s" }, ""},
		"token and cert":      {func(a *App) { a.TokenFile = "t"; a.AppCertificateFile = "c" }, "one kind"},
		"cert and client": {func(a *App) {
			a.AppCertificateFile = "c"
			a.ClientID = "id"
			a.ClientSecretFile = "s"
		}, "one kind"},
		"token and client":        {func(a *App) { a.TokenFile = "t"; a.ClientID = "id"; a.ClientSecretFile = "s" }, "one kind"},
		"id without secret":       {func(a *App) { a.ClientID = "id" }, "go together"},
		"secret without id":       {func(a *App) { a.ClientSecretFile = "s" }, "go together"},
		"lifetime without cert":   {func(a *App) { a.TokenLifetime = time.Hour }, "app_certificate_file only"},
		"token app id alone":      {func(a *App) { a.TokenAppID = hexID }, "app_certificate_file only"},
		"lifetime too long":       {func(a *App) { a.AppCertificateFile = "c"; a.TokenLifetime = 25 * time.Hour }, "token_lifetime"},
		"lifetime in nanoseconds": {func(a *App) { a.AppCertificateFile = "c"; a.TokenLifetime = 5 }, "token_lifetime"},
		"org app without app id": {func(a *App) {
			a.AppID, a.Org, a.AppName = "", "acme", "chat"
			a.AppCertificateFile = "c"
		}, "token_app_id"},
		"non-hex app id": {func(a *App) { a.AppID = "demo"; a.AppCertificateFile = "c" }, "token_app_id"},
		"non-hex token app id": {func(a *App) {
			a.AppCertificateFile = "c"
			a.TokenAppID = "xyz"
		}, "token_app_id"},
	} {
		t.Run(name, func(t *testing.T) {
			a := base()
			tc.mod(&a)
			err := a.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
