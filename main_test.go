package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/accesstoken"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// writeSecretFile writes a secret to a new file with mode (0600 in tests
// unless a test checks the warning) and returns its path.
func writeSecretFile(t *testing.T, name, secret string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(secret+"\n"), 0o600))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

// runCmd runs the CLI in-process and returns its exit code and output.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTokenCommandPrintsOnlyToken(t *testing.T) {
	appID, cert := accesstoken.NewHex32(), accesstoken.NewHex32()
	certFile := writeSecretFile(t, "cert", cert, 0o600)
	before := time.Now().Truncate(time.Second)
	code, out, errOut := runCmd("token", "--app-id", appID, "--app-certificate-file", certFile, "--token-lifetime", "1h")
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasSuffix(out, "\n"))
	tok := strings.TrimSuffix(out, "\n")
	require.NotContains(t, tok, "\n", "stdout holds the token only")
	p, err := accesstoken.VerifyChatApp(tok, appID, cert, time.Now())
	require.NoError(t, err)
	assert.Equal(t, time.Hour, p.ExpiresAt().Sub(p.IssuedAt()))
	assert.False(t, p.IssuedAt().Before(before))
	assert.Empty(t, errOut, "nothing on stderr without warnings")

	// The org/app shape names the App ID apart.
	code, out, errOut = runCmd("token", "--org", "acme", "--app", "chat", "--token-app-id", appID, "--app-certificate-file", certFile)
	require.Equal(t, 0, code, errOut)
	_, err = accesstoken.VerifyChatApp(strings.TrimSpace(out), appID, cert, time.Now())
	require.NoError(t, err)

	// A loose certificate file is warned about, never shown.
	loose := writeSecretFile(t, "loose", cert, 0o644)
	code, out, errOut = runCmd("token", "--token-app-id", appID, "--app-certificate-file", loose)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "chmod 600")
	assert.NotContains(t, errOut, cert)
	assert.NotContains(t, errOut, strings.TrimSpace(out))
}

func TestTokenCommandErrors(t *testing.T) {
	cert := accesstoken.NewHex32()
	certFile := writeSecretFile(t, "cert", cert, 0o600)
	for name, args := range map[string][]string{
		"no credentials":   {"token", "--app-id", accesstoken.NewHex32()},
		"no app id":        {"token", "--org", "acme", "--app", "chat", "--app-certificate-file", certFile},
		"lifetime too big": {"token", "--app-id", accesstoken.NewHex32(), "--app-certificate-file", certFile, "--token-lifetime", "25h"},
		"missing file":     {"token", "--app-id", accesstoken.NewHex32(), "--app-certificate-file", certFile + "-none"},
		"client, no host":  {"token", "--org", "a", "--app", "b", "--client-id", "x", "--client-secret-file", certFile},
	} {
		code, out, errOut := runCmd(args...)
		assert.Equal(t, 1, code, name)
		assert.Empty(t, out, name)
		assert.NotContains(t, errOut, cert, name)
	}
	code, _, _ := runCmd("token", "extra")
	assert.Equal(t, 2, code)
}

func TestTokenCommandClientCredentials(t *testing.T) {
	const id, secret = "YXA6client", "YXA6secret-0123456789"
	emu, err := emulator.Start(context.Background(), "127.0.0.1:0", emulator.Options{
		Dir: t.TempDir(), ClientID: id, ClientSecret: secret, Logger: discard(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Stop() })
	secretFile := writeSecretFile(t, "secret", secret, 0o600)

	code, out, errOut := runCmd("token", "--host", emu.URL, "--org", "acme", "--app", "chat",
		"--client-id", id, "--client-secret-file", secretFile)
	require.Equal(t, 0, code, errOut)
	tok := strings.TrimSpace(out)
	assert.NotContains(t, errOut, secret)
	assert.NotContains(t, errOut, tok)

	// The emulator accepts the printed token for that app.
	c, err := remote.New(remote.Options{
		Endpoint: remote.Endpoint{BaseURL: emu.URL, Org: "acme", App: "chat"},
		Tokens:   remote.NewStaticToken(tok), RateLimit: -1,
	})
	require.NoError(t, err)
	_, err = c.Upload(context.Background(), remote.UploadRequest{Name: "a", File: strings.NewReader("x"), Size: 1})
	require.NoError(t, err)

	// A wrong secret fails plainly, without the secret in the message.
	bad := writeSecretFile(t, "bad", "YXA6wrong-secret", 0o600)
	code, out, errOut = runCmd("token", "--host", emu.URL, "--org", "acme", "--app", "chat",
		"--client-id", id, "--client-secret-file", bad)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "client id or secret refused")
	assert.NotContains(t, errOut, "YXA6wrong-secret")
}

func TestTokenCommandFromConfig(t *testing.T) {
	appID, cert := accesstoken.NewHex32(), accesstoken.NewHex32()
	certFile := writeSecretFile(t, "cert", cert, 0o600)
	cfg := filepath.Join(t.TempDir(), "chatfs.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
[[app]]
name = "one"
host = "https://a1.easemob.com"
org = "acme"
app = "chat"
token_app_id = "`+appID+`"
app_certificate_file = "`+certFile+`"
token_lifetime = "2h"

[[app]]
name = "two"
host = "https://a1.easemob.com"
app_id = "`+accesstoken.NewHex32()+`"
token_file = "/nonexistent"
`), 0o600))
	code, out, errOut := runCmd("token", "--config", cfg, "--name", "one")
	require.Equal(t, 0, code, errOut)
	p, err := accesstoken.VerifyChatApp(strings.TrimSpace(out), appID, cert, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, p.ExpiresAt().Sub(p.IssuedAt()))

	code, _, errOut = runCmd("token", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "one, two")
}

// flagLine matches a flag in the flag package's -h output: "  -name type".
var flagLine = regexp.MustCompile(`(?m)^  -(\S+)`)

// TestNoFlagTakesASecret keeps secrets out of ps: a flag whose name speaks
// of a token, certificate, secret, password or key must name a file, or be
// one of the few that carry no secret.
func TestNoFlagTakesASecret(t *testing.T) {
	notSecret := map[string]bool{"token-lifetime": true, "token-app-id": true, "client-id": true}
	risky := regexp.MustCompile(`token|cert|secret|passw|key`)
	for _, cmd := range []string{"mount", "token"} {
		code, _, help := runCmd(cmd, "-h")
		require.Equal(t, 0, code)
		flags := flagLine.FindAllStringSubmatch(help, -1)
		require.NotEmpty(t, flags, cmd)
		var names []string
		for _, m := range flags {
			name := m[1]
			names = append(names, name)
			if risky.MatchString(name) && !strings.HasSuffix(name, "-file") && !notSecret[name] {
				t.Errorf("chatfs %s -%s may take a secret on the command line", cmd, name)
			}
		}
		for _, want := range []string{"app-certificate-file", "client-id", "client-secret-file", "token-lifetime"} {
			assert.Contains(t, names, want, cmd)
		}
	}
}

func TestParseCertSpecs(t *testing.T) {
	cert, appID := accesstoken.NewHex32(), accesstoken.NewHex32()
	f := writeSecretFile(t, "cert", cert, 0o600)
	got, err := parseCertSpecs([]string{f, "app-id/x=" + f, "acme/chat=" + appID + ":" + f}, discard())
	require.NoError(t, err)
	assert.Equal(t, map[string]emulator.AppCertificate{
		emulator.AllApps: {Cert: cert},
		"app-id/x":       {Cert: cert},
		"acme/chat":      {AppID: appID, Cert: cert},
	}, got)
	for _, bad := range [][]string{{f, f}, {"a/b=" + f + "-none"}, {"a/b=" + writeSecretFile(t, "bad", "nothex", 0o600)}} {
		_, err := parseCertSpecs(bad, discard())
		assert.Error(t, err, bad)
	}
}

func TestEmbeddedCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "embedded")
	appID, cert, certFile, err := embeddedCredentials(dir)
	require.NoError(t, err)
	for _, f := range []string{filepath.Join(dir, "app_id"), certFile} {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	// Stable across runs.
	appID2, cert2, _, err := embeddedCredentials(dir)
	require.NoError(t, err)
	assert.Equal(t, appID, appID2)
	assert.Equal(t, cert, cert2)

	certs, ts, err := embeddedAuth(dir, discard())
	require.NoError(t, err)
	tok, err := ts.Token(context.Background())
	require.NoError(t, err)
	c := certs["app-id/"+demoApp]
	_, err = accesstoken.VerifyChatApp(tok, c.AppID, c.Cert, time.Now())
	require.NoError(t, err)
}

// TestEmbeddedMountUsesGeneratedTokens runs "chatfs mount MOUNTPOINT" with
// no host: the embedded emulator checks AccessToken2 tokens, the mount
// generates them, and an upload goes through; no secret reaches the logs.
func TestEmbeddedMountUsesGeneratedTokens(t *testing.T) {
	state, mnt := t.TempDir(), t.TempDir()
	m := startCLIMount(t, mnt, "--state", state, "--settle", "50ms")
	require.NoError(t, os.WriteFile(filepath.Join(mnt, demoApp, "upload", "hello.txt"), []byte("hello"), 0o644))
	waitFor(t, 15*time.Second, "the upload", func() bool {
		_, err := os.Readlink(filepath.Join(mnt, demoApp, "by-name", "hello.txt"))
		return err == nil
	})
	got, err := os.ReadFile(filepath.Join(mnt, demoApp, "by-name", "hello.txt"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))

	require.NoError(t, exec.Command(m.fusermount, "-u", mnt).Run())
	select {
	case code := <-m.done:
		assert.Equal(t, 0, code, m.errb.String())
		m.done <- code
	case <-time.After(20 * time.Second):
		t.Fatal("chatfs mount did not return after unmount")
	}

	cert, err := accesstoken.ReadCertFile(filepath.Join(state, "data", "embedded", "app_certificate"))
	require.NoError(t, err)
	logs := m.out.String() + m.errb.String()
	assert.NotContains(t, logs, cert)
	assert.NotContains(t, logs, "007eJ", "no AccessToken2 token in the logs")
	assert.Contains(t, logs, "generated chat app token")
	assert.NotContains(t, logs, "status=401")
	assert.NoFileExists(t, filepath.Join(state, "data", "emulator", "token"), "no static token any more")
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// waitFor polls cond every 20ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}
