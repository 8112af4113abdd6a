package accesstoken

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Source must keep the shape of remote.TokenSource (not imported here so
// that this package's tests do not depend on remote building).
var _ interface {
	Token(context.Context) (string, error)
	Renew(context.Context, string) (string, error)
} = (*Source)(nil)

const otherCert = "0123456789abcdef0123456789ABCDEF"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func writeCert(t *testing.T, path, cert string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("  "+cert+"\n"), mode))
	require.NoError(t, os.Chmod(path, mode))
}

func newTestSource(t *testing.T, opts SourceOptions) (*Source, *fakeClock, *bytes.Buffer) {
	t.Helper()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	logs := &bytes.Buffer{}
	opts.AppID = vecAppID
	opts.Now = clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := NewSource(opts)
	require.NoError(t, err)
	return s, clock, logs
}

func verifyAt(t *testing.T, tok, cert string, now time.Time) *Token {
	t.Helper()
	p, err := Parse(tok)
	require.NoError(t, err)
	require.NoError(t, p.Verify(cert, now))
	require.True(t, p.HasChatApp())
	return p
}

func TestSourceCachesAndRenewsAtHalfLife(t *testing.T) {
	ctx := context.Background()
	s, clock, logs := newTestSource(t, SourceOptions{Cert: vecCert, Lifetime: 2 * time.Hour})

	t1, err := s.Token(ctx)
	require.NoError(t, err)
	p := verifyAt(t, t1, vecCert, clock.Now())
	assert.Equal(t, clock.Now().Add(2*time.Hour), p.ExpiresAt())

	clock.Add(59 * time.Minute)
	t2, err := s.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, t1, t2, "cached before half-life")

	clock.Add(time.Minute)
	t3, err := s.Token(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, t1, t3, "renewed at half-life")
	verifyAt(t, t3, vecCert, clock.Now())

	clock.Add(-time.Hour) // clock stepped back before t3's issue time
	t4, err := s.Token(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, t3, t4)

	assert.NotContains(t, logs.String(), vecCert)
	assert.NotContains(t, logs.String(), t1[3:20])
	assert.Contains(t, logs.String(), "generated chat app token")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Token(cancelled)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestSourceDefaultsAndOptions(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert")
	writeCert(t, certFile, vecCert, 0o600)
	badFile := filepath.Join(dir, "bad")
	writeCert(t, badFile, "not-a-certificate", 0o600)

	tests := []struct {
		name string
		opts SourceOptions
		ok   bool
	}{
		{"cert", SourceOptions{AppID: vecAppID, Cert: vecCert}, true},
		{"cert file", SourceOptions{AppID: vecAppID, CertFile: certFile}, true},
		{"both", SourceOptions{AppID: vecAppID, Cert: vecCert, CertFile: certFile}, false},
		{"neither", SourceOptions{AppID: vecAppID}, false},
		{"bad app id", SourceOptions{AppID: "nope", Cert: vecCert}, false},
		{"bad cert", SourceOptions{AppID: vecAppID, Cert: "nope"}, false},
		{"bad cert file", SourceOptions{AppID: vecAppID, CertFile: badFile}, false},
		{"missing cert file", SourceOptions{AppID: vecAppID, CertFile: filepath.Join(dir, "missing")}, false},
		{"lifetime too long", SourceOptions{AppID: vecAppID, Cert: vecCert, Lifetime: 25 * time.Hour}, false},
		{"lifetime too short", SourceOptions{AppID: vecAppID, Cert: vecCert, Lifetime: time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSource(tc.opts)
			if !tc.ok {
				require.Error(t, err)
				assert.NotContains(t, err.Error(), vecCert)
				return
			}
			require.NoError(t, err)
			tok, err := s.Token(context.Background())
			require.NoError(t, err)
			p := verifyAt(t, tok, vecCert, time.Now())
			assert.Equal(t, uint32(24*60*60), p.Expire, "default lifetime 24h")
		})
	}
}

func TestSourceRenew(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert")
	writeCert(t, certFile, vecCert, 0o600)
	s, clock, logs := newTestSource(t, SourceOptions{CertFile: certFile})

	t1, err := s.Token(ctx)
	require.NoError(t, err)
	verifyAt(t, t1, vecCert, clock.Now())

	// The certificate is rotated; the server refuses t1.
	writeCert(t, certFile, otherCert, 0o600)
	clock.Add(time.Second)
	t2, err := s.Renew(ctx, t1)
	require.NoError(t, err)
	assert.NotEqual(t, t1, t2)
	verifyAt(t, t2, otherCert, clock.Now())
	cur, err := s.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, t2, cur, "renewed token is cached")

	// Concurrent callers that saw t1 refused get t2 without a new renewal.
	again, err := s.Renew(ctx, t1)
	require.NoError(t, err)
	assert.Equal(t, t2, again)

	// t2 refused too, right away: refuse to loop.
	clock.Add(10 * time.Second)
	_, err = s.Renew(ctx, t2)
	assert.ErrorIs(t, err, ErrRenewTooSoon)
	_, err = s.Renew(ctx, t2)
	assert.ErrorIs(t, err, ErrRenewTooSoon)

	// After the interval one more renewal is allowed.
	clock.Add(time.Minute)
	t3, err := s.Renew(ctx, t2)
	require.NoError(t, err)
	assert.NotEqual(t, t2, t3)

	// A broken certificate file makes Renew fail and keeps the old token.
	clock.Add(2 * time.Minute)
	writeCert(t, certFile, "garbage", 0o600)
	_, err = s.Renew(ctx, t3)
	assert.ErrorIs(t, err, ErrInvalidCertificate)
	cur, err = s.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, t3, cur)

	assert.Contains(t, logs.String(), "app certificate changed")
	for _, secret := range []string{vecCert, otherCert, t1[3:20], t2[3:20], t3[3:20]} {
		assert.NotContains(t, logs.String(), secret)
	}
}

func TestSourceConcurrent(t *testing.T) {
	s, _, _ := newTestSource(t, SourceOptions{Cert: vecCert})
	first, err := s.Token(context.Background())
	require.NoError(t, err)
	var wg sync.WaitGroup
	results := make([]string, 16)
	for i := range results {
		wg.Go(func() {
			tok, err := s.Renew(context.Background(), first)
			if err == nil {
				results[i] = tok
			}
		})
	}
	wg.Wait()
	for _, r := range results {
		assert.NotEmpty(t, r)
		assert.Equal(t, results[0], r, "one renewal shared by all callers")
	}
}

func TestCheckSecretFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		mode os.FileMode
		warn bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o644, true},
		{0o604, true},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			path := filepath.Join(dir, "cert-"+tc.mode.String())
			writeCert(t, path, vecCert, tc.mode)
			warn, err := CheckSecretFile(path)
			require.NoError(t, err)
			if tc.warn {
				assert.Contains(t, warn, "chmod 600")
			} else {
				assert.Empty(t, warn)
			}
			assert.NotContains(t, warn, vecCert)
		})
	}
	_, err := CheckSecretFile(dir)
	assert.Error(t, err, "directory")
	_, err = CheckSecretFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	// NewSource logs the warning.
	path := filepath.Join(dir, "loose")
	writeCert(t, path, vecCert, 0o644)
	_, _, logs := newTestSource(t, SourceOptions{CertFile: path})
	assert.Contains(t, logs.String(), "chmod 600")
}
