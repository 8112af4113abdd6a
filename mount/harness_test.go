//go:build linux

// The end-to-end tests mount for real through Linux's FUSE (/dev/fuse,
// fusermount3, /proc, fusectl) and expect Linux's errnos and syscalls:
// every file of mount_test is built on Linux only. On macOS and FreeBSD
// the package builds and vets (.ci/run cross-compiles it).

package mount_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// requireFUSE skips the test where FUSE cannot be mounted, loudly, unless
// CHATFS_REQUIRE_FUSE is set (CI), where it fails instead.
func requireFUSE(t testing.TB) {
	t.Helper()
	reason := ""
	if _, err := os.Stat("/dev/fuse"); err != nil {
		reason = "/dev/fuse is missing"
	} else if os.Geteuid() != 0 {
		if _, err := os.Stat("/usr/bin/fusermount3"); err != nil {
			reason = "not root and fusermount3 is missing"
		}
	}
	if reason == "" {
		return
	}
	if os.Getenv("CHATFS_REQUIRE_FUSE") != "" {
		t.Fatalf("FUSE is required (CHATFS_REQUIRE_FUSE is set) but unusable: %s", reason)
	}
	t.Skipf("SKIPPING FUSE TEST: %s", reason)
}

// service is the emulator behind a request counter, over loopback HTTP.
type service struct {
	emu      *emulator.Server
	srv      *httptest.Server
	url      string
	requests atomic.Int64
	dir      string
	// hook, if set, sees every request first and may answer it itself.
	hook atomic.Pointer[func(w http.ResponseWriter, r *http.Request, next http.Handler) bool]
}

func newService(t testing.TB, o emulator.Options) *service {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	emu, err := emulator.New(o)
	require.NoError(t, err)
	s := &service{emu: emu, dir: o.Dir}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if h := s.hook.Load(); h != nil && (*h)(w, r, emu) {
			return
		}
		emu.ServeHTTP(w, r)
	}))
	s.url = s.srv.URL
	t.Cleanup(func() { s.srv.Close(); emu.Close() })
	return s
}

// client is a chatfiles client for the test's app, to upload and download
// behind the mount's back.
func (s *service) client(t testing.TB, appID string) *remote.Client {
	t.Helper()
	c, err := remote.New(remote.Options{
		Endpoint:  remote.Endpoint{BaseURL: s.url, AppID: appID},
		Tokens:    remote.NewStaticToken(s.emu.Token()),
		RateLimit: -1,
	})
	require.NoError(t, err)
	return c
}

// harness is a live mount of one app ("demo") on a service.
type harness struct {
	t     testing.TB
	svc   *service
	state string
	mnt   string
	m     *mount.Mount
	app   config.App
}

const appID = "demo"

// hopt adjusts a mount before it is made; o.Apps[0] is the app, with the
// emulator's token as its default token source.
type hopt func(o *mount.Options, a *config.App)

func newHarness(t testing.TB, svc *service, state string, opts ...hopt) *harness {
	t.Helper()
	requireFUSE(t)
	if state == "" {
		state = t.TempDir()
	}
	h := &harness{t: t, svc: svc, state: state, mnt: t.TempDir()}
	noHistory := time.Duration(0) // tests that import history turn it on (chats_test.go)
	h.app = config.App{Name: appID, Host: svc.url, AppID: appID, MaxSize: 10 * 1024 * 1024, History: &noHistory}
	h.mount(opts...)
	return h
}

func (h *harness) mount(opts ...hopt) {
	t := h.t
	dirs, err := config.StateDirs(h.state)
	require.NoError(t, err)
	o := mount.Options{
		Mountpoint:  h.mnt,
		Dirs:        dirs,
		CacheSize:   1 << 30,
		SettleDelay: 100 * time.Millisecond,
		Retry:       remote.RetryPolicy{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxElapsed: 2 * time.Second},
		RateLimit:   -1,
		Logger:      quietLogger(),
	}
	o.Apps = []mount.App{{App: h.app, Tokens: remote.NewStaticToken(h.svc.emu.Token())}}
	for _, f := range opts {
		f(&o, &o.Apps[0].App)
	}
	require.NoError(t, o.Apps[0].Validate())
	m, err := mount.New(context.Background(), o)
	require.NoError(t, err)
	h.m = m
	t.Cleanup(func() { h.unmount() })
}

func (h *harness) unmount() {
	if h.m != nil {
		_ = h.m.Close(2 * time.Second)
		h.m = nil
	}
}

func (h *harness) path(parts ...string) string {
	return filepath.Join(append([]string{h.mnt, appID}, parts...)...)
}

// quietLogger logs warnings and errors only, to stderr (CHATFS_TEST_LOG=1:
// everything).
func quietLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("CHATFS_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// eventually polls cond every 20ms for up to d; bounded, it stops by itself.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// waitUploaded waits until by-name/<name> exists and returns its uuid.
func (h *harness) waitUploaded(name string) string {
	h.t.Helper()
	var target string
	eventually(h.t, 15*time.Second, "upload of "+name, func() bool {
		var err error
		target, err = os.Readlink(h.path("by-name", name))
		return err == nil
	})
	return filepath.Base(target)
}

// testJPEG is a w×h JPEG.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 3), uint8(y * 5), 128, 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, nil))
	return b.Bytes()
}
