//go:build linux

package mount_test

import (
	"context"
	"io/fs"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chatfs/chatfs/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestSecretsNeverLogged runs uploads, reads, refused reads and failures at
// debug level, and greps every log line for the token and share-secrets.
func TestSecretsNeverLogged(t *testing.T) {
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := newService(t, emulator.Options{Logger: logger})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) {
		o.Logger = logger
		o.Debug = false
		a.Restrict = true
	})
	var secrets []string
	for _, name := range []string{"a.txt", "b.png"} {
		data := []byte("content of " + name)
		if strings.HasSuffix(name, ".png") {
			data = testPNG(t, 300, 200)
		}
		require.NoError(t, os.WriteFile(h.path("upload", name), data, 0o644))
		uuid := h.waitUploaded(name)
		secret := getxattr(t, h.path("files", uuid), "user.chatfs.share_secret")
		secrets = append(secrets, secret)
		// A read that must go to the server: forget the file, read it back by uuid.
		require.NoError(t, os.Remove(h.path("by-name", name)))
		_, _ = os.ReadFile(h.path("files", uuid)) // restricted: refused without the secret
	}
	// Sent from send/: the message carries the secret; no log does.
	require.NoError(t, os.WriteFile(h.path("send", "users", "alice", "c.txt"), []byte("content of c"), 0o644))
	h.waitSent("users/alice/c.txt")
	uuid := h.waitUploaded("c.txt")
	secrets = append(secrets, getxattr(t, h.path("files", uuid), "user.chatfs.share_secret"))
	// A wrong token: the refused request is logged, the token is not.
	badToken := "not-the-token-" + svc.emu.Token()
	c, err := remote.New(remote.Options{
		Endpoint: remote.Endpoint{BaseURL: svc.url, AppID: appID},
		Tokens:   remote.NewStaticToken(badToken), RateLimit: -1, Logger: logger,
	})
	require.NoError(t, err)
	_, err = c.Download(context.Background(), remote.DownloadRequest{UUID: "00000000-0000-0000-0000-000000000001", ShareSecret: secrets[0]})
	require.True(t, remote.IsUnauthorized(err), "%v", err)
	h.unmount()

	out := logs.String()
	require.NotEmpty(t, out)
	assert.NotContains(t, out, svc.emu.Token(), "the token is never logged")
	assert.NotContains(t, out, badToken)
	for _, s := range secrets {
		require.NotEmpty(t, s)
		assert.NotContains(t, out, s, "share-secrets are never logged")
	}
}

// TestStatePermissions: every directory chatfs makes is 0700 and every file
// 0600, and the mount is not visible to other users unless asked.
func TestStatePermissions(t *testing.T) {
	svc := newService(t, emulator.Options{})
	state := t.TempDir()
	h := newHarness(t, svc, state)
	assert.NotContains(t, mountOptions(t, h.mnt), "allow_other")
	require.NoError(t, os.WriteFile(h.path("upload", "p.png"), testPNG(t, 400, 300), 0o644))
	h.waitUploaded("p.png")
	require.NoError(t, os.WriteFile(h.path("upload", "queued.txt"), []byte("stays queued"), 0o644))
	h.unmount()

	var checked int
	require.NoError(t, filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if p == state {
			return nil // the test's own temp dir
		}
		info, err := d.Info()
		require.NoError(t, err)
		switch {
		case d.IsDir():
			assert.Equal(t, fs.FileMode(0o700), info.Mode().Perm(), p)
		default:
			assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm(), p)
		}
		checked++
		return nil
	}))
	assert.Greater(t, checked, 5)
}

// TestDebugTraceHasNoContent mounts with --debug, writes a file with a
// marker, reads it back, reads a share-secret and tries to set an xattr
// to the marker, then checks that the FUSE trace is there and that
// neither the marker nor the secret is in any log (chatfs's, or the
// standard logger go-fuse writes to by default).
func TestDebugTraceHasNoContent(t *testing.T) {
	var logs, std testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) {
		o.Logger = logger
		o.Debug = true
		a.Restrict = true
	})
	const marker = "MARKER-7f3c-file-content"
	require.NoError(t, os.WriteFile(h.path("upload", "m.txt"), []byte(marker+marker), 0o644))
	uuid := h.waitUploaded("m.txt")
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	require.Equal(t, marker+marker, string(got))
	secret := getxattr(t, h.path("files", uuid), "user.chatfs.share_secret")
	require.NotEmpty(t, secret)
	_ = syscall.Setxattr(h.path("upload"), "user.note", []byte(marker), 0)
	h.unmount()

	out := logs.String() + std.String()
	assert.Contains(t, out, "WRITE", "the trace names operations")
	assert.Contains(t, out, "GETXATTR")
	for _, s := range []string{marker, marker[:8], secret, secret[:8]} {
		assert.NotContains(t, out, s)
	}
}
