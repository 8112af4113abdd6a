package remote_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/accesstoken"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// A generated-token source fits the seam.
var _ remote.TokenSource = (*accesstoken.Source)(nil)
var _ remote.TokenSource = (*remote.ClientCredentials)(nil)

const (
	ccID     = "YXA6wDs-MARqEeSO0VcBzaqg11"
	ccSecret = "YXA6JOMWlLap_YbI_ucz77j-4-mI0dd"
)

var ccEndpoint = remote.Endpoint{Org: "easemob-demo", App: "chatdemo"}

// ccService is an emulator with client credentials behind a swappable
// handler (a swap is a restart that forgets issued tokens), with a fake
// clock and a count of token requests.
type ccService struct {
	t      *testing.T
	dir    string
	url    string
	clock  atomic.Int64 // Unix nanoseconds
	h      atomic.Pointer[emulator.Server]
	tokenQ atomic.Int64
}

func newCCService(t *testing.T, o emulator.Options) *ccService {
	s := &ccService{t: t, dir: t.TempDir()}
	s.clock.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	s.restart(o)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if filepath.Base(r.URL.Path) == "token" {
			s.tokenQ.Add(1)
		}
		s.h.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *ccService) restart(o emulator.Options) {
	o.Dir = s.dir
	o.ClientID, o.ClientSecret = ccID, ccSecret
	o.Logger = slog.New(slog.DiscardHandler)
	o.Now = s.now
	e, err := emulator.New(o)
	require.NoError(s.t, err)
	s.h.Store(e)
}

func (s *ccService) now() time.Time          { return time.Unix(0, s.clock.Load()) }
func (s *ccService) advance(d time.Duration) { s.clock.Add(int64(d)) }

func writeSecret(t *testing.T, secret string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client-secret")
	require.NoError(t, os.WriteFile(p, []byte(secret+"\n"), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

// ccSource is a ClientCredentials source of s, logging into logs.
func (s *ccService) source(t *testing.T, secretFile string, logs *bytes.Buffer) *remote.ClientCredentials {
	t.Helper()
	ep := ccEndpoint
	ep.BaseURL = s.url
	cc, err := remote.NewClientCredentials(remote.ClientCredentialsOptions{
		Endpoint:   ep,
		ClientID:   ccID,
		SecretFile: secretFile,
		Now:        s.now,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	})
	require.NoError(t, err)
	return cc
}

func (s *ccService) client(t *testing.T, ts remote.TokenSource) *remote.Client {
	ep := ccEndpoint
	ep.BaseURL = s.url
	return newClient(t, s.url, func(o *remote.Options) { o.Endpoint, o.Tokens = ep, ts })
}

func roundTrip(t *testing.T, c *remote.Client, data string) {
	t.Helper()
	ctx := context.Background()
	res, err := c.Upload(ctx, remote.UploadRequest{Name: "f.txt", File: readerAt(data), Size: int64(len(data))})
	require.NoError(t, err)
	_, got := readAll(t, c, remote.DownloadRequest{UUID: res.UUID})
	require.Equal(t, data, string(got))
}

func TestClientCredentialsRenewsAtHalfLife(t *testing.T) {
	svc := newCCService(t, emulator.Options{ClientTokenTTL: 10 * time.Minute})
	var logs bytes.Buffer
	cc := svc.source(t, writeSecret(t, ccSecret, 0o600), &logs)
	c := svc.client(t, cc)

	// Half-life 5 minutes: a request every 2 minutes for 26 minutes asks
	// for a token at 0, 6, 12, 18 and 24 minutes, and never meets a 401
	// (a 401 would ask once more).
	for i := 0; i <= 13; i++ {
		roundTrip(t, c, fmt.Sprintf("round %d", i))
		svc.advance(2 * time.Minute)
	}
	assert.Equal(t, int64(5), svc.tokenQ.Load())
	assert.NotContains(t, logs.String(), ccSecret)
	assert.Contains(t, logs.String(), "got app token")
	tok, err := cc.Token(context.Background())
	require.NoError(t, err)
	assert.NotContains(t, logs.String(), tok)
	assert.NotContains(t, fmt.Sprint(cc), ccSecret)
}

func TestClientCredentialsRenewsOn401(t *testing.T) {
	svc := newCCService(t, emulator.Options{})
	var logs bytes.Buffer
	c := svc.client(t, svc.source(t, writeSecret(t, ccSecret, 0o600), &logs))
	roundTrip(t, c, "before")
	require.Equal(t, int64(1), svc.tokenQ.Load())

	svc.restart(emulator.Options{}) // forgets the issued token: next call gets 401
	roundTrip(t, c, "after")
	roundTrip(t, c, "after, again")
	assert.Equal(t, int64(2), svc.tokenQ.Load(), "one new token after the 401, then cached")
}

func TestClientCredentialsRefusedAgain(t *testing.T) {
	svc := newCCService(t, emulator.Options{Authorize: func(string, string) error { return fmt.Errorf("no") }})
	var logs bytes.Buffer
	c := svc.client(t, svc.source(t, writeSecret(t, ccSecret, 0o600), &logs))
	ctx := context.Background()
	_, err := c.Download(ctx, remote.DownloadRequest{UUID: testUUID})
	require.True(t, remote.IsUnauthorized(err), err)
	assert.Equal(t, int64(2), svc.tokenQ.Load(), "first token, then one renewal")

	for range 5 {
		_, err = c.Download(ctx, remote.DownloadRequest{UUID: testUUID})
		require.True(t, remote.IsUnauthorized(err), err)
		require.ErrorIs(t, err, accesstoken.ErrRenewTooSoon)
	}
	assert.Equal(t, int64(2), svc.tokenQ.Load(), "no token asked for while refused")
	assert.Contains(t, logs.String(), "refused right after renewal")

	svc.advance(time.Minute)
	_, err = c.Download(ctx, remote.DownloadRequest{UUID: testUUID})
	require.True(t, remote.IsUnauthorized(err), err)
	assert.Equal(t, int64(3), svc.tokenQ.Load(), "one more try once RenewInterval has passed")
}

func TestClientCredentialsBadSecret(t *testing.T) {
	svc := newCCService(t, emulator.Options{})
	var logs bytes.Buffer
	secretFile := writeSecret(t, "YXA6wrong", 0o600)
	cc := svc.source(t, secretFile, &logs)
	c := svc.client(t, cc)
	ctx := context.Background()
	for range 3 {
		_, err := c.Download(ctx, remote.DownloadRequest{UUID: testUUID})
		require.True(t, remote.IsUnauthorized(err), "a refused secret is an authorization failure: %v", err)
	}
	assert.Equal(t, int64(1), svc.tokenQ.Load(), "a refused secret is not asked again at once")
	assert.NotContains(t, logs.String(), "YXA6wrong")

	// The fixed secret is read before the next request, a minute later.
	require.NoError(t, os.WriteFile(secretFile, []byte(ccSecret), 0o600))
	svc.advance(time.Minute)
	roundTrip(t, c, "fixed")
	assert.Equal(t, int64(2), svc.tokenQ.Load())
}

func TestClientCredentialsSharedRequest(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
		fmt.Fprint(w, `{"access_token":"YWMt-shared","expires_in":3600,"application":"x"}`)
	}))
	ep := ccEndpoint
	ep.BaseURL = srv.URL
	cc, err := remote.NewClientCredentials(remote.ClientCredentialsOptions{Endpoint: ep, ClientID: ccID, Secret: ccSecret})
	require.NoError(t, err)

	var wg sync.WaitGroup
	toks := make([]string, 16)
	for i := range toks {
		wg.Go(func() {
			tok, err := cc.Token(context.Background())
			assert.NoError(t, err)
			toks[i] = tok
		})
	}
	// A caller that gives up does not cancel the request of the others.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = cc.Token(ctx)
	require.ErrorIs(t, err, context.Canceled)
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load())
	for _, tok := range toks {
		assert.Equal(t, "YWMt-shared", tok)
	}
}

func TestClientCredentialsAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     http.HandlerFunc
		calls int64
		check func(error) bool
	}{
		{"no expires_in", content(`{"access_token":"YWMt"}`), 1,
			func(err error) bool { return assert.ErrorIs(t, err, remote.ErrMalformedAnswer) }},
		{"not json", content(`<html>`), 1,
			func(err error) bool { return assert.ErrorIs(t, err, remote.ErrMalformedAnswer) }},
		{"503 retried", status(503, errorBody("service_unavailable", "busy")), 3, remote.IsRetryable},
		{"401", status(401, errorBody("unauthorized", "no")), 1, remote.IsUnauthorized},
		{"app not found", status(404, errorBody("organization_application_not_found", "Could not find application")), 1,
			remote.IsAppNotFound},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/steal", http.StatusTemporaryRedirect)
		}, 1, func(err error) bool { return err != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tc.h(w, r)
			}))
			ep := ccEndpoint
			ep.BaseURL = srv.URL
			cc, err := remote.NewClientCredentials(remote.ClientCredentialsOptions{Endpoint: ep, ClientID: ccID, Secret: ccSecret})
			require.NoError(t, err)
			_, err = cc.Token(context.Background())
			require.Error(t, err)
			assert.True(t, tc.check(err), err)
			assert.NotContains(t, err.Error(), ccSecret)
			assert.Equal(t, tc.calls, calls.Load())
		})
	}
}

func TestClientCredentialsOptions(t *testing.T) {
	ep := ccEndpoint
	ep.BaseURL = "http://127.0.0.1:1"
	for name, o := range map[string]remote.ClientCredentialsOptions{
		"no id":       {Endpoint: ep, Secret: ccSecret},
		"no secret":   {Endpoint: ep, ClientID: ccID},
		"both":        {Endpoint: ep, ClientID: ccID, Secret: ccSecret, SecretFile: "/x"},
		"missing":     {Endpoint: ep, ClientID: ccID, SecretFile: filepath.Join(t.TempDir(), "none")},
		"empty file":  {Endpoint: ep, ClientID: ccID, SecretFile: writeSecret(t, "", 0o600)},
		"no endpoint": {ClientID: ccID, Secret: ccSecret},
	} {
		_, err := remote.NewClientCredentials(o)
		assert.Error(t, err, name)
	}
	var logs bytes.Buffer
	_, err := remote.NewClientCredentials(remote.ClientCredentialsOptions{Endpoint: ep, ClientID: ccID,
		SecretFile: writeSecret(t, ccSecret, 0o644), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "chmod 600")
	assert.NotContains(t, logs.String(), ccSecret)
}
