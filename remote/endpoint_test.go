package remote_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

func TestEndpoint(t *testing.T) {
	tests := []struct {
		name string
		e    remote.Endpoint
		base string // empty: Validate must fail
	}{
		{"app id", remote.Endpoint{BaseURL: "https://api.sd-rtn.com", AppID: "abc123"}, "https://api.sd-rtn.com/app-id/abc123"},
		{"org app", remote.Endpoint{BaseURL: "https://a1.easemob.com/", Org: "1112", App: "demo"}, "https://a1.easemob.com/1112/demo"},
		{"path prefix", remote.Endpoint{BaseURL: "http://127.0.0.1:8080/im", Org: "o", App: "a"}, "http://127.0.0.1:8080/im/o/a"},
		{"both shapes", remote.Endpoint{BaseURL: "https://h", AppID: "x", Org: "o", App: "a"}, ""},
		{"none", remote.Endpoint{BaseURL: "https://h"}, ""},
		{"org without app", remote.Endpoint{BaseURL: "https://h", Org: "o"}, ""},
		{"app without org", remote.Endpoint{BaseURL: "https://h", App: "a"}, ""},
		{"slash", remote.Endpoint{BaseURL: "https://h", AppID: "a/b"}, ""},
		{"dotdot", remote.Endpoint{BaseURL: "https://h", Org: "..", App: "a"}, ""},
		{"query", remote.Endpoint{BaseURL: "https://h", Org: "o", App: "a?x=1"}, ""},
		{"fragment", remote.Endpoint{BaseURL: "https://h", AppID: "a#b"}, ""},
		{"percent", remote.Endpoint{BaseURL: "https://h", AppID: "%2e%2e"}, ""},
		{"space", remote.Endpoint{BaseURL: "https://h", AppID: "a b"}, ""},
		{"no scheme", remote.Endpoint{BaseURL: "a1.easemob.com", AppID: "x"}, ""},
		{"ftp", remote.Endpoint{BaseURL: "ftp://h", AppID: "x"}, ""},
		{"base query", remote.Endpoint{BaseURL: "https://h/?a=b", AppID: "x"}, ""},
		{"user info", remote.Endpoint{BaseURL: "https://u:p@h", AppID: "x"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Validate()
			if tc.base == "" {
				require.Error(t, err)
				_, err = remote.New(remote.Options{Endpoint: tc.e, Tokens: remote.NewStaticToken("t")})
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.base, tc.e.Base())
		})
	}
}

func TestNewNeedsTokens(t *testing.T) {
	_, err := remote.New(remote.Options{Endpoint: remote.Endpoint{BaseURL: "https://h", AppID: "x"}})
	require.Error(t, err)
}

func TestParseMessageURL(t *testing.T) {
	tests := []struct {
		url, uuid, secret string
		ok                bool
	}{
		{"https://a1.easemob.com/1112/demo/chatfiles/" + testUUID, testUUID, "", true},
		{"https://a1.easemob.com/1112/demo/chatfiles/" + testUUID + "?share-secret=" + testSecret, testUUID, testSecret, true},
		{"https://h/app-id/x/chatfiles/" + testUUID + "/?share-secret=a%2Bb", testUUID, "a+b", true},
		{"https://h/1112/demo/files/" + testUUID, "", "", false},
		{"https://h/1112/demo/chatfiles/not-a-uuid", "", "", false},
		{"https://h/1112/demo/chatfiles/" + testUUID + "/extra", "", "", false},
		{"https://h/chatfiles/", "", "", false},
		{"://bad", "", "", false},
	}
	for _, tc := range tests {
		uuid, secret, err := remote.ParseMessageURL(tc.url)
		if !tc.ok {
			require.Error(t, err, tc.url)
			assert.NotContains(t, err.Error(), "share-secret=", "no secret in errors")
			continue
		}
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.uuid, uuid)
		assert.Equal(t, tc.secret, secret)
	}
}
